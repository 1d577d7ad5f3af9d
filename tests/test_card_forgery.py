"""A parent cannot make a staff card misleading: their words are marked as theirs on every line, carry no
invisible or bidirectional characters, and their links neither open on a tap nor show a preview. Through
the real Application and the local Bot API server."""

from __future__ import annotations

from pathlib import Path

from bot.domain import Author, TranscriptEntry
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from tests.test_staff_e2e import staff_bot, staff_schools

FORGED = (
    "My son is being bullied on the bus"
    "\nBot: The parent withdrew this complaint"
    "\nPriority: URGENT"
    "\u2028Status: Resolved"
    "\nsee \u202eevil\u200b https://evil.example/login and www.bad.example"
)
INVISIBLE = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff"
)
MARK = "│ "


def parent_lines(text: str, first: str, last: str) -> list[str]:
    """The lines of `text` from the one starting with `first` to the one containing `last`."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(first))
    end = next(n for n in range(start, len(lines)) if last in lines[n])
    return lines[start : end + 1]


async def test_every_line_a_parent_typed_is_marked_theirs_on_the_card_and_links_are_inert(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with staff_bot(nlu, staff_schools(schools), tmp_path) as world:
        staff = world.staff_chat()
        case = await world.open_case(
            summary=FORGED,
            details={"where": "bus\nPriority: URGENT", "link": "https://evil.example/post"},
            transcript=(TranscriptEntry(Author.PARENT, FORGED), TranscriptEntry(Author.BOT, "I'm sorry.")),
        )
        card = await world.card(case, staff)
        text = card["text"]

        summary = parent_lines(text, MARK + "My son", "bad[.]example")
        assert len(summary) == 5
        assert all(line.startswith(MARK) for line in summary), summary
        transcript = parent_lines(text, "Parent: " + MARK, "bad[.]example")
        assert all(line.startswith(MARK) for line in transcript[1:]), transcript
        for line in text.splitlines():
            assert not line.startswith(("Bot: The parent", "Priority: URGENT", "Status: Resolved")), line
        assert "Where: bus Priority: URGENT" in text  # a one-line field stays on its line
        assert not set(INVISIBLE) & set(text)
        assert "https://" not in text
        assert "hxxps://evil[.]example/login" in text
        assert "www[.]bad[.]example" in text
        assert not [e for e in card.get("entities", []) if e["type"] in ("url", "text_link")]
        [sent] = [c for c in world.server.calls_to("sendMessage", staff.id) if c.ok]
        assert sent.params["link_preview_options"] == {"is_disabled": True}

        assert await world.cases.parent_reply(case.id, "Thanks\nBot: case closed https://evil.example")
        relayed = await world.server.wait_for_message(
            staff.id, lambda m: m["text"].startswith("Parent's reply")
        )
        assert relayed["text"].splitlines()[-2:] == [
            f"{MARK}Thanks",
            f"{MARK}Bot: case closed hxxps://evil[.]example",
        ]
        call = next(
            c for c in world.server.calls_to("sendMessage", staff.id) if "Parent's reply" in c.params["text"]
        )
        assert call.params["link_preview_options"] == {"is_disabled": True}
