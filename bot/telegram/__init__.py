"""The Telegram front end (python-telegram-bot): thin handlers around the dialogue engine."""
