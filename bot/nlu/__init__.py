"""Natural-language understanding: training the Rasa model, parsing messages, measuring quality."""
