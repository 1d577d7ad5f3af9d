"""Write a typo'd copy of each development and held-out set, to measure how the model reads misspelt
messages.

Usage: uv run python scripts/make_typos.py [SET.tsv ...]  (default: the development and held-out sets)
Writes tests/data/typos/NAME.tsv for each tests/data/NAME.tsv. Run again, it writes the same files: the
noise of each message is drawn from a generator seeded by the message itself.

The noise is what a parent's thumbs make on a phone keyboard. Of the words of four letters or more, about
one in four gets one slip: a letter dropped, two neighbouring letters swapped, a letter doubled, or a
letter replaced by its neighbour on a QWERTY keyboard. Apostrophes are dropped ("dont", "im") and half of
the messages are all lower case. Intent labels are kept: a typo does not change what the parent means.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SETS = ("nlu_dev.tsv", "nlu_dev_real.tsv", "nlu_heldout.tsv", "nlu_heldout_b.tsv", "nlu_heldout_c.tsv")
OUT = DATA / "typos"

SLIP_RATE = 0.25
"""Share of the words of MIN_LENGTH letters or more that get one slip."""
MIN_LENGTH = 4
LOWER_CASE_RATE = 0.5

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {
    letter: "".join(
        _ROWS[r][c]
        for r in range(max(0, row - 1), min(len(_ROWS), row + 2))
        for c in range(max(0, col - 1), min(len(_ROWS[r]), col + 2))
        if (r, c) != (row, col)
    )
    for row, keys in enumerate(_ROWS)
    for col, letter in enumerate(keys)
}
"""For each letter, the keys around it on a QWERTY keyboard."""


def _drop(word: str, at: int, rng: random.Random) -> str:
    return word[:at] + word[at + 1 :]


def _swap(word: str, at: int, rng: random.Random) -> str:
    at = min(at, len(word) - 2)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def _double(word: str, at: int, rng: random.Random) -> str:
    return word[: at + 1] + word[at:]


def _neighbour(word: str, at: int, rng: random.Random) -> str:
    letter = word[at]
    keys = NEIGHBOURS.get(letter.lower())
    if not keys:
        return word
    typed = rng.choice(keys)
    return word[:at] + (typed.upper() if letter.isupper() else typed) + word[at + 1 :]


SLIPS: tuple[Callable[[str, int, random.Random], str], ...] = (_drop, _swap, _double, _neighbour)


def slip(word: str, rng: random.Random) -> str:
    """One slip inside the word's letters (punctuation around it is kept)."""
    start = next((n for n, ch in enumerate(word) if ch.isalpha()), len(word))
    end = len(word) - next((n for n, ch in enumerate(reversed(word)) if ch.isalpha()), len(word))
    core = word[start:end]
    if sum(ch.isalpha() for ch in core) < MIN_LENGTH:
        return word
    # Not the first letter: people rarely mistype it, and the word would become unrecognisable.
    at = rng.randrange(1, len(core))
    return word[:start] + rng.choice(SLIPS)(core, at, rng) + word[end:]


def typoed(text: str) -> str:
    """The message as typed in a hurry on a phone; the same text always gives the same copy."""
    rng = random.Random(f"typos:{text}")
    words = [slip(w, rng) if rng.random() < SLIP_RATE else w for w in text.replace("'", "").split(" ")]
    typed = " ".join(words)
    return typed.lower() if rng.random() < LOWER_CASE_RATE else typed


def copy_set(source: Path, target: Path) -> int:
    """Writes the typo'd copy of one `intent<TAB>text` file; returns the number of messages."""
    lines = source.read_text(encoding="utf-8").splitlines()
    out = []
    messages = 0
    for number, line in enumerate(lines):
        intent, _, text = line.partition("\t")
        if (number == 0 and (intent, text) == ("intent", "text")) or not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        out.append(f"{intent}\t{typoed(text)}")
        messages += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return messages


def main(argv: list[str]) -> int:
    sources = [Path(a) for a in argv] or [DATA / name for name in SETS if (DATA / name).exists()]
    for source in sources:
        target = OUT / source.name
        print(f"{target.relative_to(ROOT)}: {copy_set(source, target)} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
