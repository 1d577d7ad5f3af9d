"""The `parentbot` commands on the stored records: purge, erase-case, pseudonym and outbox."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.schools import load_schools

if TYPE_CHECKING:
    from bot.storage.outbox_backlog import StuckDelivery


def purge_command(args: argparse.Namespace, settings: Settings) -> int:
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


def erase_case_command(args: argparse.Namespace, settings: Settings) -> int:
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


def pseudonym_command(args: argparse.Namespace, settings: Settings) -> int:
    """For a subject access request: the pseudonym to look for in the logs."""
    from bot.logs import pseudonym, set_pseudonym_key

    if settings.log_pseudonym_key is None:
        print("LOG_PSEUDONYM_KEY is not set: the bot's pseudonyms are random per run.", file=sys.stderr)
        return 1
    set_pseudonym_key(settings.log_pseudonym_key.get_secret_value())
    print(pseudonym(args.telegram_id))
    return 0


def outbox_command(args: argparse.Namespace, settings: Settings) -> int:
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
