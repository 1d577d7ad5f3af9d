"""The `parentbot` command line: its arguments, and main(), which runs the command they name.

The commands themselves are in bot/cli/model_commands.py (train, evaluate, evaluate-gate),
bot/cli/records_commands.py (purge, erase-case, pseudonym, outbox) and bot/cli/bot_commands.py (chat,
check, run)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from bot.cli.bot_commands import chat_command, check_command, run_command
from bot.cli.model_commands import evaluate_command, evaluate_gate_command, train_command
from bot.cli.records_commands import erase_case_command, outbox_command, pseudonym_command, purge_command
from bot.config import ConfigError, load_settings
from bot.logs import configure_logging

TELEMETRY = "RASA_TELEMETRY_ENABLED"


def main(argv: list[str] | None = None) -> int:
    # Rasa reports usage (with a machine id) to its makers unless told not to: nothing of this trust's goes
    # to a third party the privacy notice does not name. Set before any command imports Rasa.
    os.environ.setdefault(TELEMETRY, "false")
    args = build_parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        settings = load_settings()
        return int(args.command(args, settings) or 0)
    except ConfigError as error:
        print(f"parentbot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parentbot",
        description="A chat bot guiding parents through a school trust's Social Media Code of Conduct.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging of the bot's own events (never message text)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the NLU model from nlu/, config.yml and domain.yml")
    train.add_argument("--force", action="store_true", help="train even if an up-to-date model exists")
    train.set_defaults(command=train_command)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal (no Telegram needed)")
    chat.set_defaults(command=chat_command)

    evaluate = commands.add_parser("evaluate", help="measure the model on files of intent<TAB>text lines")
    evaluate.add_argument("files", nargs="*", type=Path, help="test files (intent<TAB>text per line)")
    evaluate.add_argument("--errors", action="store_true", help="list every misclassified message")
    evaluate.add_argument(
        "--cross-validation", action="store_true", help="k-fold cross-validation on the training data"
    )
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.set_defaults(command=evaluate_command)

    gate = commands.add_parser(
        "evaluate-gate",
        help="measure the safeguarding gate per kind and tier on files of label<TAB>kind<TAB>text lines",
    )
    gate.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="labelled files (default: tests/data/firstlook/)",
    )
    gate.add_argument("--details", action="store_true", help="list misses, false alarms and checks")
    gate.add_argument(
        "--validate",
        action="store_true",
        help="validate the danger model on the corpus, one writer held out at a time, and write the "
        "thresholds it gives to data/danger/thresholds.yml (~5 min)",
    )
    gate.set_defaults(command=evaluate_gate_command)

    purge = commands.add_parser(
        "purge", help="delete messages and cases past their retention period (also runs on a schedule)"
    )
    purge.set_defaults(command=purge_command)

    erase = commands.add_parser(
        "erase-case",
        help="delete one case now (an erasure request the DPO granted), and what the bot posted for it in "
        "the staff chats",
    )
    erase.add_argument("reference", help="the case reference, e.g. OAK-7K2Q")
    erase.set_defaults(command=erase_case_command)

    pseudonym = commands.add_parser(
        "pseudonym", help="the pseudonym that stands for a Telegram id in the logs (LOG_PSEUDONYM_KEY)"
    )
    pseudonym.add_argument("telegram_id", help="a parent's or staff member's Telegram user id")
    pseudonym.set_defaults(command=pseudonym_command)

    outbox = commands.add_parser(
        "outbox", help="list stuck deliveries (failed, or retried many times); --retry queues them again"
    )
    outbox.add_argument(
        "--retry", action="store_true", help="queue them again now, to the chats the schools file names"
    )
    outbox.set_defaults(command=outbox_command)

    check = commands.add_parser(
        "check",
        help="check every chat the schools file names as the bot does at start (getChat, getChatMember): "
        "one line per problem, exit status 1 if there is any",
    )
    check.set_defaults(command=check_command)

    run = commands.add_parser(
        "run", help="start the Telegram bot (the console chat when TELEGRAM_BOT_TOKEN is not set)"
    )
    run.set_defaults(command=run_command)
    return parser
