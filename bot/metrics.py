"""The bot's Prometheus metrics, counted where the code already knows (one name per fact, here only).

Nothing personal is ever a label: no Telegram id, no case reference, no text. Labels are the intent's
name (the model's fixed set) and the delivery's kind (bot/storage/models.py DeliveryKind). The metrics
live in their own registry, served by bot/telegram/health.py at `GET /metrics` when HEALTH_PORT is set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES = Counter(
    "parentbot_messages_handled",
    "Parent messages (text, commands, buttons, photos) answered by the dialogue engine",
    registry=REGISTRY,
)
ANSWERS = Counter(
    "parentbot_answers",
    "Parent messages answered, by the intent the model read (messages the model did not read: none)",
    ["intent"],
    registry=REGISTRY,
)
URGENT_CASES = Counter("parentbot_urgent_cases", "Urgent cases opened", registry=REGISTRY)
DELIVERIES_SENT = Counter(
    "parentbot_deliveries_sent",
    "Outbox deliveries done (Telegram accepted them, or the message already showed it), by kind",
    ["kind"],
    registry=REGISTRY,
)
DELIVERIES_FAILED = Counter(
    "parentbot_deliveries_failed",
    "Outbox delivery attempts that failed (retried later or given up), by kind",
    ["kind"],
    registry=REGISTRY,
)
OLDEST_UNDELIVERED = Gauge(
    "parentbot_oldest_undelivered_seconds",
    "Age of the oldest outbox row not yet delivered (pending or failed); 0 when there is none",
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "parentbot_turn_seconds",
    "Time to answer one parent message (the model's parse and the database included)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)


@contextmanager
def turn() -> Iterator[None]:
    """Count one parent message and time its answer (also when answering it raised)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        MESSAGES.inc()
        TURN_SECONDS.observe(time.perf_counter() - started)


def answered(intent: str | None) -> None:
    ANSWERS.labels(intent=intent or "none").inc()


def urgent_case() -> None:
    URGENT_CASES.inc()


def _kind(kind: Enum | str) -> str:
    return str(kind.value) if isinstance(kind, Enum) else str(kind)


def delivery_sent(kind: Enum | str) -> None:
    DELIVERIES_SENT.labels(kind=_kind(kind)).inc()


def delivery_failed(kind: Enum | str) -> None:
    DELIVERIES_FAILED.labels(kind=_kind(kind)).inc()


def exposition(oldest_undelivered: float | None) -> bytes:
    """The metrics in Prometheus' text format, with the outbox's age as read just now."""
    OLDEST_UNDELIVERED.set(oldest_undelivered or 0.0)
    return generate_latest(REGISTRY)
