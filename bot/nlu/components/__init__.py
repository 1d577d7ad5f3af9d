"""Rasa graph components of our own, named in config.yml by their module path."""
