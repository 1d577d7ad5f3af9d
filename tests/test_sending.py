"""Long answers are split where Telegram accepts them, with the buttons on the last piece."""

from __future__ import annotations

from bot.dialogue.messages import Button, Reply
from bot.telegram.sending import MAX_TEXT, keyboard, split_text


def test_short_text_is_one_piece() -> None:
    assert split_text("hello") == ["hello"]


def test_long_text_splits_at_paragraphs_and_loses_nothing() -> None:
    paragraphs = [f"paragraph {n} " + "word " * 150 for n in range(40)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(0 < len(piece) <= MAX_TEXT for piece in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert all(piece.rstrip().endswith("word") for piece in pieces)


def test_text_without_spaces_is_cut_hard() -> None:
    pieces = split_text("x" * (MAX_TEXT * 2 + 5))
    assert [len(p) for p in pieces] == [MAX_TEXT, MAX_TEXT, 5]


def test_buttons_become_one_per_row_with_their_payloads() -> None:
    markup = keyboard(Reply("hi", (Button("A", "/greet"), Button("B", "/deny"))))
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [["/greet"], ["/deny"]]
    assert keyboard(Reply("no buttons")) is None
