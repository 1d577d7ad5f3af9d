"""The `parentbot` command: its arguments and main() in bot/cli/main.py, the commands in one module per
group. `python -m bot.cli` runs it too (bot/cli/__main__.py)."""
