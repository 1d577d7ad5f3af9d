"""The words the bot reads the same way wherever a parent types them: yes and no to its questions, the
typed forms of its Skip, Done and Edit buttons, stopping, and the words for a child.

One vocabulary, so the gate's "is a child at risk now?", a flow's offer and the consent step agree on
what a plain "yes" or "no" is. Each question adds only the words that make sense for it ("send it" at
consent, "they are safe" at the gate's check); a word is added here once, for every question that
takes it.
"""

from __future__ import annotations

import re

YES = frozenset({"yes", "y", "yeah", "yep", "yes please"})
"""A plain yes, to any of the bot's yes-or-no questions."""
NO = frozenset({"no", "n", "nope", "nah", "no thanks"})
"""A plain no, to any of them."""

AGREE = YES | {"ok", "okay", "sure", "go ahead"}
"""A yes to a flow's question ("Shall I pass this on?", "Is a child in danger right now?")."""
DECLINE = NO | {"not now", "don't", "do not send it"}
"""A no to a flow's question, and to the consent question."""
CONSENT_YES = AGREE | {"send it", "yes send it", "yes, send it", "please send it", "send", "yes go ahead"}
"""At the consent step, only a button press or one of these exact words is a yes: nothing reaches staff
on a word that might not mean it."""

DANGER_YES = YES | {
    "yes a child may be in danger", "a child may be in danger", "yes they are", "yes he is", "yes she is",
    "yes help", "help",
}  # fmt: skip
DANGER_NO = NO | {
    "no its not urgent", "its not urgent", "not urgent", "no not urgent", "no they are safe",
    "no theyre safe", "no hes safe", "no shes safe", "no everyone is safe",
}  # fmt: skip
"""Typed answers to the gate's "is a child at risk now?", compared without punctuation (bare_words): a
parent who types the button's words means the button."""

SKIP = "skip"
SKIP_WORDS = frozenset(
    {SKIP, "skip it", "no thanks", "no thank you", "no", "nope", "rather not", "i'd rather not",
     "id rather not", "none", "pass"}
)  # fmt: skip
"""Typed words that mean the Skip button of the names step (compared as typed_words)."""
NO_LINK_WORDS = frozenset({SKIP, "no", "none", "no link"})
"""Typed words that mean the link step's Skip button."""
DONE_WORDS = frozenset({"done", "no", "none", "finished", "that's all"})
"""Typed words that mean the evidence step's Done button: no more screenshots."""
EDIT = "edit"
EDIT_WORDS = frozenset({EDIT, "edit it", "change it"})
"""Typed words that mean the consent step's Edit button."""
CANCEL = re.compile(
    r"^\s*(stop|cancel|quit|exit|never ?mind|forget it|don'?t send( it)?|abort)\W*$", re.IGNORECASE
)
"""A typed /cancel: the flow's draft is deleted."""

CHILD_WORDS = (
    "son", "sons", "daughter", "daughters", "child", "children", "kid", "kids", "boy", "girl", "pupil",
    "pupils", "stepson", "stepdaughter", "grandson", "granddaughter", "nephew", "niece",
)  # fmt: skip
"""Words a parent uses for a child: "my son Tom" names the child (bot/dialogue/openings.py), and a
question about a child's account is not about the parent's own (bot/dialogue/uncovered.py). The
safeguarding gate keeps its own list in bot/safeguarding/dangers.yml, written and reviewed with the rest
of its lexicon."""
CHILD = "|".join(CHILD_WORDS)
"""CHILD_WORDS as a regular expression's alternatives."""


def plain_words(text: str) -> str:
    """The text lower-cased, without the full stops and exclamation marks around it, and with single
    spaces: "Yes please!" and "yes  please" are the words "yes please"."""
    return " ".join(text.lower().strip(" .!").split())


def typed_words(text: str) -> str:
    """plain_words with a phone's curly apostrophe typed as a straight one ("I\u2019d rather not")."""
    return plain_words(text.replace("\u2019", "'"))


def bare_words(text: str) -> str:
    """The words of the text without any punctuation ("No, it's not urgent." is "no its not urgent")."""
    return " ".join(re.sub(r"[^\w\s]", "", text.casefold()).split())
