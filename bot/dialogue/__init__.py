"""The dialogue engine: channel-free conversation logic, answer texts from domain.yml."""
