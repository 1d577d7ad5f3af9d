"""The `parentbot` command line: train, chat, evaluate, check, run."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from bot.config import ConfigError, Schools, Settings, load_schools, load_settings
from bot.logs import configure_logging
from bot.nlu.model import ProjectPaths

if TYPE_CHECKING:
    from bot.storage.outbox_backlog import StuckDelivery

log = logging.getLogger("parentbot")
EXAMPLE_SCHOOLS = Path("schools.example.yml")


TELEMETRY = "RASA_TELEMETRY_ENABLED"


def main(argv: list[str] | None = None) -> int:
    # Rasa reports usage (with a machine id) to its makers unless told not to: nothing of this trust's goes
    # to a third party the privacy notice does not name. Set before any command imports Rasa.
    os.environ.setdefault(TELEMETRY, "false")
    args = _parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        settings = load_settings()
        return int(args.command(args, settings) or 0)
    except ConfigError as error:
        print(f"parentbot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
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
    train.set_defaults(command=_train)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal (no Telegram needed)")
    chat.set_defaults(command=_chat)

    evaluate = commands.add_parser("evaluate", help="measure the model on files of intent<TAB>text lines")
    evaluate.add_argument("files", nargs="*", type=Path, help="test files (intent<TAB>text per line)")
    evaluate.add_argument("--errors", action="store_true", help="list every misclassified message")
    evaluate.add_argument(
        "--cross-validation", action="store_true", help="k-fold cross-validation on the training data"
    )
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.set_defaults(command=_evaluate)

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
    gate.set_defaults(command=_evaluate_gate)

    purge = commands.add_parser(
        "purge", help="delete messages and cases past their retention period (also runs on a schedule)"
    )
    purge.set_defaults(command=_purge)

    erase = commands.add_parser(
        "erase-case",
        help="delete one case now (an erasure request the DPO granted), and what the bot posted for it in "
        "the staff chats",
    )
    erase.add_argument("reference", help="the case reference, e.g. OAK-7K2Q")
    erase.set_defaults(command=_erase_case)

    pseudonym = commands.add_parser(
        "pseudonym", help="the pseudonym that stands for a Telegram id in the logs (LOG_PSEUDONYM_KEY)"
    )
    pseudonym.add_argument("telegram_id", help="a parent's or staff member's Telegram user id")
    pseudonym.set_defaults(command=_pseudonym)

    outbox = commands.add_parser(
        "outbox", help="list stuck deliveries (failed, or retried many times); --retry queues them again"
    )
    outbox.add_argument(
        "--retry", action="store_true", help="queue them again now, to the chats the schools file names"
    )
    outbox.set_defaults(command=_outbox)

    check = commands.add_parser(
        "check",
        help="check every chat the schools file names as the bot does at start (getChat, getChatMember): "
        "one line per problem, exit status 1 if there is any",
    )
    check.set_defaults(command=_check)

    run = commands.add_parser(
        "run", help="start the Telegram bot (the console chat when TELEGRAM_BOT_TOKEN is not set)"
    )
    run.set_defaults(command=_run)
    return parser


def _paths(settings: Settings) -> ProjectPaths:
    return ProjectPaths(settings.project_dir.resolve())


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from bot.nlu.model import current_model, train

    paths = _paths(settings)
    existing = current_model(paths)
    if existing is not None and not args.force:
        print(f"Model is up to date: {existing}")
        return 0
    started = time.perf_counter()
    model = train(paths)
    print(f"Trained {model} in {time.perf_counter() - started:.1f} s")
    return 0


def _schools_for_console(settings: Settings) -> Schools:
    if settings.schools_file.exists() or not EXAMPLE_SCHOOLS.exists():
        return load_schools(settings.schools_file)
    print(f"({settings.schools_file} not found: using the made-up schools of {EXAMPLE_SCHOOLS})")
    return load_schools(EXAMPLE_SCHOOLS)


CONSOLE_DATABASE = "sqlite:///parentbot-console.db"


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.console import ConsoleChat
    from bot.channels.staff_view import ConsoleStaffView
    from bot.services import build_services

    if "database_url" not in settings.__fields_set__:
        # Its own file by default, so cases filed while trying the bot never reach a real staff chat.
        settings = settings.copy(update={"database_url": CONSOLE_DATABASE})
    services = build_services(settings, _schools_for_console(settings))
    staff_view = ConsoleStaffView(services.records, services.responses, services.schools, sys.stdout)

    async def chat() -> None:
        try:
            await ConsoleChat(
                services.engine, sys.stdin, sys.stdout, after_turn=staff_view.show_pending
            ).run()
        finally:
            await services.close()

    asyncio.run(chat())
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.nlu.evaluate import (
        EvaluationFileError,
        cross_validate,
        format_cross_validation,
        format_report,
        overlap,
        predict,
        read_examples,
        score,
        training_texts,
    )
    from bot.services import load_nlu

    if args.cross_validation:
        reports = cross_validate(_paths(settings).root, folds=args.folds)
        print(format_cross_validation(reports, show_errors=args.errors))
        return 0
    if not args.files:
        print("parentbot evaluate: give FILE.tsv ... or --cross-validation", file=sys.stderr)
        return 2
    try:
        test_sets = [(file, read_examples(file)) for file in args.files]
    except (OSError, EvaluationFileError) as error:
        print(f"parentbot evaluate: {error}", file=sys.stderr)
        return 2
    nlu = load_nlu(settings)
    trained = training_texts(_paths(settings).nlu)
    for file, examples in test_sets:
        started = time.perf_counter()
        predicted = asyncio.run(predict(nlu, examples))
        elapsed = time.perf_counter() - started
        if len(test_sets) > 1:
            print(f"\n== {file}")
        report = score(examples, predicted)
        print(format_report(report, show_errors=args.errors))
        print(overlap(examples, report, trained).describe(report.total))
        print(f"\nparsed {len(examples)} messages in {elapsed:.2f} s")
    return 0


def _evaluate_gate(args: argparse.Namespace, settings: Settings) -> int:
    """The gate's figures, or (--validate) its thresholds chosen again: a developer's tool kept in the
    repository's scripts/gate_report.py, outside the package the running bot imports."""
    report = _repository_script("gate_report")
    if args.validate:
        return int(report.validate_gate(_paths(settings).nlu))
    return int(report.evaluate_gate(args.files, details=args.details, settings=settings))


def _repository_script(name: str) -> ModuleType:
    """scripts/NAME.py of the repository this package is in, loaded as a module."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts.{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{path} is missing: run this command from the parentbot repository")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before it runs: its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import open_database, purge
    from bot.storage.database import session_factory
    from bot.storage.retention import Retention

    db = open_database(settings)
    try:
        counts = asyncio.run(purge(Retention(session_factory(db)), settings))
    finally:
        db.dispose()
    print(
        f"Deleted {counts.messages} messages and {counts.attachments} photos older than "
        f"{settings.message_retention_hours} h not attached to a case, and {counts.cases} cases: resolved "
        f"more than {settings.case_retention_days} days ago, or ({counts.unresolved} of them) never "
        f"resolved and untouched for {settings.unresolved_case_retention_days} days; {counts.drafts} "
        f"unfinished drafts older than {settings.flow_timeout_minutes} min; ended {counts.relays} relays "
        f"silent for {settings.relay_timeout_hours} h; {counts.profiles} parent profiles idle for "
        f"{settings.profile_retention_days} days; {counts.audit_events} audit events older than "
        f"{settings.audit_retention_days} days. {counts.erasures} posts in staff chats queued for deletion "
        "in Telegram (the running bot deletes them)."
    )
    return 0


def _erase_case(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import open_database
    from bot.storage.database import session_factory
    from bot.storage.retention import Retention

    db = open_database(settings)
    try:
        erasures = asyncio.run(Retention(session_factory(db)).erase_case(args.reference))
    finally:
        db.dispose()
    if erasures is None:
        print(f"There is no case {args.reference}.", file=sys.stderr)
        return 1
    print(
        f"Deleted case {args.reference.upper()}; {erasures} posts in staff chats queued for deletion in "
        "Telegram (the running bot deletes them)."
    )
    return 0


def _pseudonym(args: argparse.Namespace, settings: Settings) -> int:
    """For a subject access request: the pseudonym to look for in the logs."""
    from bot.logs import pseudonym, set_pseudonym_key

    if settings.log_pseudonym_key is None:
        print("LOG_PSEUDONYM_KEY is not set: the bot's pseudonyms are random per run.", file=sys.stderr)
        return 1
    set_pseudonym_key(settings.log_pseudonym_key.get_secret_value())
    print(pseudonym(args.telegram_id))
    return 0


def _outbox(args: argparse.Namespace, settings: Settings) -> int:
    """What the delivery worker could not send: ids, references, kinds, chats and error kinds only."""
    from bot.services import open_database
    from bot.staff.routing import CardRouting
    from bot.storage.database import session_factory
    from bot.storage.outbox import Outbox

    schools = load_schools(settings.schools_file) if args.retry else None
    db = open_database(settings)
    try:
        store = Outbox(session_factory(db), CardRouting(schools) if schools is not None else None)
        stuck = asyncio.run(store.stuck_deliveries())
        print(_stuck_table(stuck) if stuck else "No stuck deliveries.")
        if args.retry and stuck:
            count = asyncio.run(store.retry_stuck())
            print(f"Queued {count} deliveries again; the running bot sends them within seconds.")
    finally:
        db.dispose()
    return 0


def _stuck_table(stuck: list[StuckDelivery]) -> str:
    header = ("id", "case", "kind", "chat", "status", "attempts", "last error")
    rows = [header] + [
        (
            str(d.id),
            d.reference or "-",
            d.kind,
            str(d.chat_id),
            d.status.value,
            str(d.attempts),
            d.error_kind,
        )
        for d in stuck
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _check(args: argparse.Namespace, settings: Settings) -> int:
    """The start-up check of the staff chats, run on its own: no database, no model, nothing sent.
    A chat that moved shows as "became supergroup ...", the line to change named."""
    from telegram.error import InvalidToken, TelegramError

    from bot.telegram.app import standalone_bot
    from bot.telegram.staff.chat_checks import chat_problems
    from bot.telegram.staff.failures import telegram_reason

    token = settings.telegram_bot_token
    if token is None:
        print("parentbot check: set TELEGRAM_BOT_TOKEN: the chats are checked as the bot", file=sys.stderr)
        return 2
    schools = load_schools(settings.schools_file)

    async def check() -> list[str]:
        async with standalone_bot(settings) as bot:
            return await chat_problems(bot, schools, {})

    try:
        problems = asyncio.run(check())
    except InvalidToken:  # its message holds the token
        print("parentbot check: the Bot API server refused TELEGRAM_BOT_TOKEN", file=sys.stderr)
        return 2
    except TelegramError as error:
        reason = telegram_reason(error).replace(token.get_secret_value(), "***")
        print(f"parentbot check: the Bot API server cannot be reached ({reason})", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    for line in _complaints_notes(schools):
        print(line, file=sys.stderr)
    if problems:
        return 1
    count = len(schools.configured_chats())
    print(f"All {count} chats OK" if count != 1 else "The one chat is OK")
    return 0


def _complaints_notes(schools: Schools) -> list[str]:
    """A warning, not a failure: with no complaints chat, a complaint about the head teacher reaches the
    school's own staff chat (its card says so), where the trust's complaints procedure says it must not."""
    from bot.staff.routing import unrouted_schools

    unrouted = unrouted_schools(schools)
    if not unrouted:
        return []
    return [
        f"No complaints_chat_id for {'schools' if len(unrouted) > 1 else 'school'} {', '.join(unrouted)} "
        "nor for the trust: complaints about the "
        "head teacher go to the school's staff chat, marked so on the card (set trust complaints_chat_id, "
        "or each school's, to the chair of governors' or the trust's complaints group)"
    ]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.telegram_bot_token is None:
        print("TELEGRAM_BOT_TOKEN is not set: starting the console chat instead.")
        return _chat(args, settings)
    from bot.services import build_services
    from bot.telegram.app import run

    schools = load_schools(settings.schools_file)
    services = build_services(settings, schools, background_nlu=True)
    try:
        run(services)
    finally:
        asyncio.run(services.close())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
