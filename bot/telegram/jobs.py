"""The Application's background jobs: the outbox delivery worker, the urgent-case reminders, the
retention purge, and the watch on a model loading in the background. Each is a repeating job of the
Application's job queue, so it starts and stops with the Application."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import Application, ContextTypes

from bot.nlu.client import BackgroundLoadedNlu
from bot.services import Services
from bot.staff import StaffOptions
from bot.staff.failover import MovedCallback
from bot.storage.flood import SqlFloodBuckets
from bot.telegram.staff.delivery import delivery_worker
from bot.telegram.staff.membership import StaffMembership

log = logging.getLogger(__name__)

PURGE_INTERVAL = timedelta(hours=1)
FLOOD_BUCKET_IDLE = timedelta(hours=1)
"""A bucket untouched this long is full again: the row says nothing the default would not."""
MODEL_WATCH_INTERVAL = 0.5
"""Seconds between two looks at a model loading in the background."""


def schedule_staff_jobs(
    app: Application,
    services: Services,
    options: StaffOptions,
    on_chat_moved: MovedCallback,
    membership: StaffMembership,
) -> None:
    """The delivery worker every `delivery_interval` seconds (started and stopped with the Application):
    a tick starts a lane per chat with rows due and returns (bot/staff/worker.py); the lanes are the
    Application's tasks, so stopping it waits for them."""
    if app.job_queue is None:
        raise RuntimeError("python-telegram-bot's job queue (APScheduler) is needed for deliveries")
    worker = delivery_worker(
        services.records.outbox,
        services.records.cases,
        app.bot,
        services.schools,
        services.responses,
        options=options,
        on_parent_blocked=services.store.mark_blocked,
        on_chat_moved=on_chat_moved,
        spawn=lambda lane: app.create_task(lane, name="delivery-lane"),
        membership=membership,
        erasures=services.records.erasures,
        clock=services.clock,
    )

    async def deliver(_: ContextTypes.DEFAULT_TYPE) -> None:
        if app.running:  # stopping: the rows wait for the next start, not in lanes nobody would await
            await worker.tick()

    async def remind(_: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            queued = await services.records.outbox.due_urgent_reminders(options.urgent_reminder_every)
        except Exception as error:  # noqa: BLE001 - the repeating job must keep running
            log.error("Urgent reminder check failed: %s", type(error).__name__)
            return
        if queued:
            log.info("Reminders queued for unclaimed urgent cases %s", queued)

    app.job_queue.run_repeating(
        deliver,
        interval=options.delivery_interval,
        first=0,
        name="deliveries",
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
    app.job_queue.run_repeating(
        remind, interval=options.reminder_check_interval, first=0, name="urgent_reminders"
    )
    _schedule_purge(app, services)


def _schedule_purge(app: Application, services: Services) -> None:
    """The retention purge (nothing kept past its period), hourly (also `parentbot purge`), and idle
    flood-limit buckets."""
    assert app.job_queue is not None
    buckets = SqlFloodBuckets(services.sessions, services.clock)

    async def purge(_: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await buckets.forget_idle(FLOOD_BUCKET_IDLE)
            counts = await services.purge()
        except Exception as error:  # noqa: BLE001 - the repeating job must keep running
            log.error("Retention purge failed: %s", type(error).__name__)
            return
        log.info(
            "Purged %d messages, %d photos, %d cases (%d never resolved), %d expired drafts, %d idle "
            "profiles, %d audit events; ended %d silent relays; queued %d erasures in Telegram",
            counts.messages,
            counts.attachments,
            counts.cases,
            counts.unresolved,
            counts.drafts,
            counts.profiles,
            counts.audit_events,
            counts.relays,
            counts.erasures,
        )

    app.job_queue.run_repeating(purge, interval=PURGE_INTERVAL, first=60, name="retention_purge")


def watch_the_model_load(app: Application, nlu: BackgroundLoadedNlu) -> None:
    """A model that cannot be loaded stops the bot (`run` then raises the error), as it would have
    before polling started had it been loaded first.

    A job of the Application's job queue looks at the load every MODEL_WATCH_INTERVAL s until it has
    ended: post_init runs before the Application does, and a task created then (Application.create_task)
    is not the Application's to await (python-telegram-bot warns so); a job starts and stops with it.
    It looks rather than awaits, so stopping the bot never waits for a load still under way."""
    assert app.job_queue is not None

    async def look(context: ContextTypes.DEFAULT_TYPE) -> None:
        if nlu.loading():
            return
        assert context.job is not None
        context.job.schedule_removal()
        if (error := nlu.error()) is not None:
            log.critical("The NLU model could not be loaded: stopping (%s)", type(error).__name__)
            app.stop_running()

    app.job_queue.run_repeating(look, interval=MODEL_WATCH_INTERVAL, first=0, name="nlu-load-watch")
