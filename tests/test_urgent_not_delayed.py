"""Issue 20, findings 3 and 4: nobody can delay an urgent case, through the real Application and the
local Bot API server. Danger words take a looser flood bucket, never none; one delivery lane per chat, so
one busy chat never holds another; photos per report capped; the bot silent in groups the configuration
does not name (it leaves them), and refusals never make a handler wait on a send."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Schools
from bot.nlu.client import InProcessNlu
from bot.services import Services
from bot.storage.database import session_factory
from bot.storage.flood import SqlFloodBuckets
from bot.storage.models import Author, CaseMessage, ConversationMessage
from bot.telegram.flood import FLOOD_BURST, URGENT_BURST_FACTOR, SharedFloodGate
from tests.telegram_harness import RunningBot, running_bot
from tests.test_faults import FAST
from tests.test_flood_shared import Clock

DANGER = "a man online keeps asking my daughter for nudes"
GUIDANCE = "If a child is in danger right now, call 999"


@pytest.fixture
async def frozen_bot(nlu: InProcessNlu, schools: Schools, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot with its flood limit on a clock that does not move: no bucket refills during the test."""
    clock = Clock(time.time())

    def gate(services: Services) -> SharedFloodGate:
        return SharedFloodGate(SqlFloodBuckets(session_factory(services.db)), clock=clock)

    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, flood=gate) as running:
        yield running


def heard_from(bot: RunningBot, parent_id: int) -> list[str]:
    """What the engine took in from the parent: loose messages, those of a flow, those of a case."""
    with session_factory(bot.services.db)() as session:
        loose = session.scalars(
            select(ConversationMessage.text).where(
                ConversationMessage.parent_id == str(parent_id), ConversationMessage.author == Author.PARENT
            )
        ).all()
        relayed = session.scalars(select(CaseMessage.text).where(CaseMessage.author == Author.PARENT)).all()
    return [*loose, *relayed]


async def test_a_burst_of_danger_messages_all_get_the_guidance_but_only_the_urgent_burst_is_processed(
    frozen_bot: RunningBot,
) -> None:
    bot = frozen_bot
    flooder = bot.parent("Flo")
    for number in range(200):
        bot.server.user_sends_text(flooder, f"{DANGER} {number}")
    await bot.server.wait_handled(timeout=120)
    texts = [m["text"] for m in bot.server.sent_messages(flooder.id)]
    guided = sum(GUIDANCE in text for text in texts)
    assert guided >= 200, f"{guided} of 200 danger messages got the emergency guidance"
    flow = (await bot.services.store.load(str(flooder.id))).flow
    in_flow = [line.text for line in flow.lines if line.author is Author.PARENT] if flow else []
    heard = {*heard_from(bot, flooder.id), *in_flow}
    assert 1 <= len(heard) <= FLOOD_BURST * URGENT_BURST_FACTOR, len(heard)
