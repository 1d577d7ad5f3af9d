"""Which option of a "Did you mean ...?" question a typed answer names, so a parent who types an answer
rather than tapping a button is understood.

The question itself is asked by the engine with bot.nlu.clarify's candidates as buttons. A parent may type
instead of tapping: "the first one", "2", "complaint", the option's title or "something else" count as
that button. Only a short answer is read this way; a longer message is a new message, understood afresh.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SOMETHING_ELSE = "something_else"
"""The payload name of the "Something else" button: it leads to the fallback help."""
MOST_WORDS = 6
"""A typed answer of more words than this is read as a new message, not as a choice."""

_WORD = re.compile(r"[a-z0-9]+")
_ORDINALS = {"first": 0, "1st": 0, "1": 0, "second": 1, "2nd": 1, "2": 1, "third": 2, "3rd": 2, "3": 2}
_NONE_OF_THEM = ({"something", "else"}, {"none"}, {"neither"})
_NOT_KEYS = frozenset(
    {"a", "about", "an", "and", "can", "do", "how", "i", "is", "it", "just", "my", "of", "on", "one", "or",
     "the", "this", "to", "what", "with"}
)  # fmt: skip
_PREFIX = 6
"""Words sharing their first letters count as a weaker match ("complaining" for "complain")."""


def chosen_option(text: str, options: Sequence[str], labels: Mapping[str, str]) -> str | None:
    """The option (an intent name, or SOMETHING_ELSE) that `text` names; None when it names none, or
    names two equally well. `labels` gives each option's button title."""
    words = _WORD.findall(text.lower())
    if not options or not words or len(words) > MOST_WORDS:
        return None
    if any(marker <= set(words) for marker in _NONE_OF_THEM):
        return SOMETHING_ELSE
    ordinal = _ordinal(words, len(options))
    if ordinal is not None:
        return options[ordinal]
    exact = [name for name in options if _WORD.findall(labels.get(name, "").lower()) == words]
    if exact:
        return exact[0]
    scores = {name: _score(words, _keys(name, labels.get(name, ""))) for name in options}
    best = max(scores.values())
    winners = [name for name, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _ordinal(words: list[str], count: int) -> int | None:
    found = {_ORDINALS[word] for word in words if word in _ORDINALS}
    if "last" in words:
        found.add(count - 1)
    if len(found) != 1:
        return None
    (index,) = found
    return index if index < count else None


def _keys(name: str, label: str) -> set[str]:
    words = set(_WORD.findall(label.lower())) | set(name.split("_"))
    return {word for word in words if word not in _NOT_KEYS}


def _score(words: list[str], keys: set[str]) -> int:
    """Two points for each typed word that is one of the option's words, one for a word that starts
    like one of them."""
    return sum(max((_match(word, key) for key in keys), default=0) for word in words if word not in _NOT_KEYS)


def _match(word: str, key: str) -> int:
    if word == key:
        return 2
    return 1 if min(len(word), len(key)) >= 4 and word[:_PREFIX] == key[:_PREFIX] else 0
