"""Channels: the ways a parent reaches the dialogue engine (a terminal here; Telegram in bot/telegram)."""
