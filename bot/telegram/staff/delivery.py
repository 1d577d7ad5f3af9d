"""The delivery worker on Telegram: the staff side's worker and failover (bot/staff/worker.py,
bot/staff/failover.py) with python-telegram-bot sending the rows and erasing what the purge queued."""

from __future__ import annotations

from telegram import Bot

from bot.clock import Clock, utcnow
from bot.dialogue.responses import ResponseBook
from bot.schools import Schools
from bot.staff import StaffOptions
from bot.staff.cards import StaffTexts
from bot.staff.failover import BlockedCallback, Failover, MovedCallback
from bot.staff.worker import DeliveryWorker, Spawn
from bot.storage.cases import CaseStore
from bot.storage.erasures import ErasureQueue
from bot.storage.outbox import Outbox
from bot.telegram.staff.erasure import TelegramEraser
from bot.telegram.staff.membership import StaffMembership
from bot.telegram.staff.senders import TelegramSender

ERASURE_RETRY_FACTOR = 30
"""An erasure is retried this many times more slowly than a delivery: nothing waits on it."""


def delivery_worker(
    outbox: Outbox,
    cases: CaseStore,
    bot: Bot,
    schools: Schools,
    responses: ResponseBook,
    *,
    options: StaffOptions | None = None,
    batch: int = 20,
    on_parent_blocked: BlockedCallback | None = None,
    on_chat_moved: MovedCallback | None = None,
    membership: StaffMembership | None = None,
    erasures: ErasureQueue | None = None,
    spawn: Spawn | None = None,
    clock: Clock = utcnow,
) -> DeliveryWorker:
    """A worker sending through `bot`; with `erasures`, it also erases in Telegram what the retention
    purge queued, when the outbox has no backlog."""
    options = options or StaffOptions()
    texts = StaffTexts(responses, schools)
    sender = TelegramSender(bot, cases, schools, texts, membership=membership, clock=clock)
    failover = Failover(
        outbox, cases, schools, options, on_parent_blocked=on_parent_blocked, on_chat_moved=on_chat_moved
    )
    eraser = (
        TelegramEraser(erasures, bot, texts, retry_base=options.retry_base * ERASURE_RETRY_FACTOR)
        if erasures is not None
        else None
    )
    return DeliveryWorker(outbox, sender, failover, batch=batch, eraser=eraser, spawn=spawn)
