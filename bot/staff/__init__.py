"""The staff side's policy, with no transport in it: what a case card says (cards.py), which chat it goes to
(routing.py), who may act where (access.py), the delivery worker's lanes (worker.py), what a failed
delivery means and where a case goes when its chat fails (failover.py), what the other messages say
(outgoing.py) and the figures of /stats (stats.py). Telegram carries it out in bot/telegram/staff/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class StaffOptions:
    """How often the background jobs run; the defaults suit production, tests shorten them."""

    delivery_interval: float = 1.0
    """Seconds between passes of the delivery worker over the outbox."""
    reminder_check_interval: float = 60.0
    """Seconds between checks for urgent cases nobody has claimed."""
    urgent_reminder_every: timedelta = timedelta(minutes=5)
    """An unclaimed urgent case is announced again this long after its card or its last reminder."""
    retry_base: float = 1.0
    """First retry delay of a failed delivery in seconds; it doubles on each failure ..."""
    retry_max: float = 300.0
    """... up to this many seconds (Telegram's retry_after is honoured whatever it says)."""
    membership_refresh: float = 300.0
    """Seconds a staff chat's member check is trusted when no join or leave was seen."""
    setup_stay: timedelta = timedelta(minutes=10)
    """How long the bot stays, answering /setup only, in a group the schools file does not name."""
