"""The danger detector: the safeguarding gate's reading of a parent's message.

What counts as danger is data, in `dangers.yml` beside this module, for a safeguarding lead to review;
this module is only the matcher. A message is tidied into words (`words`), the `not_danger` phrases are
blanked out of it, and a kind of danger is named when one of its signals, or every part of one of its
combinations, is found in what is left.

The detector is the gate's lexicon: bot.safeguarding.gate combines what it finds with the learned danger
model's reading. It answers alone while the model loads, so it must stay precise.

Messages the bot cannot read. The model was trained on English, and the data covers only the commonest
danger words of the languages UK parents write most (Polish, Romanian, Urdu and Punjabi in Latin script,
Arabic, Urdu, Bengali, Russian/Ukrainian, Punjabi in Gurmukhi). A message written in letters that are not
Latin, in which the detector finds nothing, cannot be understood at all: the model's score on it is noise.
Answering it with "sorry, I did not understand" could leave a child in danger with no help, while the
general guidance (999, CEOP, Childline, NSPCC) and the offer to alert the school's staff, who can have it
translated, costs a parent who only said hello one extra message. So such a message gets the general
guidance (bot.safeguarding.gate), whatever the model says, and whether the model has loaded or not. Text
with no letters at all (emoji, numbers, punctuation) is not a message in a language and is left to the rest
of the bot; a message mostly in another script with a Latin word or two ("ok", a name) counts as unreadable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.safeguarding import DangerKind

DANGERS_FILE = Path(__file__).with_name("dangers.yml")

_BOUNDARY = "#"
_BLANK = "~"
_GAP = r"(?:[^ #]+ ){0,4}"
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:yo|yrs?|y|st|nd|rd|th|am|pm|k|m|s|x|mins?|hrs?|h|ish|years?|p)")
_STOPS = ".,;:?!\u060c\u06d4\u0964\n"
"""Sentence and clause punctuation, with the Arabic comma, the Urdu full stop and the Bengali danda."""
_CHUNK = re.compile(rf"[^\s{_STOPS}]+(?:!+[^\s{_STOPS}]+)*|[{_STOPS}]+")
_LATIN_LETTER = re.compile(r"[a-z]")
_SPECIAL_LATIN = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "\u0131": "i"})
_ARABIC_MARKS = re.compile(r"[\u064b-\u0652\u0670\u0640]")
_SELF = frozenset({"self", "selves", "selfs"})
_REFLEXIVE_START = frozenset({"him", "her", "my", "your", "them", "it", "our", "their", "one", "thy"})
FUZZY_MIN_LENGTH = 8
"""Only words this long are read as a listed word one typo away (two from 11 letters): shorter words
have too many real neighbours ("missing"/"kissing")."""


def words(text: str) -> list[str]:
    """The message as the matcher sees it: tidied words, with `#` where a sentence or clause ends."""
    tidied = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LATIN)
    tidied = _ARABIC_MARKS.sub("", _strip_latin_accents(tidied))
    tidied = re.sub("['\u2018\u2019`\u00b4]", "", tidied)
    tidied = re.sub(r"(.)\1{2,}", r"\1\1", tidied)
    out: list[str] = []
    for chunk in _CHUNK.findall(tidied):
        if chunk[0] in _STOPS:
            out.append(_BOUNDARY)
            continue
        for word in _clean_chunk(chunk):
            if word in _SELF and out and out[-1] in _REFLEXIVE_START:
                out[-1] += word  # "him self" -> "himself"
            else:
                out.append(word)
    return out


def _strip_latin_accents(text: str) -> str:
    """Accents off Latin letters only: in Bengali or Devanagari the marks are the vowels."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = [
        ch
        for i, ch in enumerate(decomposed)
        if not (unicodedata.combining(ch) and i and decomposed[i - 1].isascii())
    ]
    return unicodedata.normalize("NFC", "".join(kept))


def _clean_chunk(chunk: str) -> list[str]:
    letters = sum(ch.isalpha() for ch in chunk)
    if letters >= 2 and not _NUMBER_WITH_UNIT.fullmatch(chunk):
        chunk = chunk.translate(_LEET)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in chunk)
    return kept.split()


def is_unreadable(text: str) -> bool:
    """Mostly letters of a script the bot cannot read ("ok ابني في المستشفى" too, not just pure Arabic)."""
    tidied = _strip_latin_accents(unicodedata.normalize("NFKC", text).casefold()).translate(_SPECIAL_LATIN)
    letters = sum(ch.isalpha() for ch in tidied)
    return letters > 0 and len(_LATIN_LETTER.findall(tidied)) * 2 < letters


class DangerDataError(ValueError):
    """A line of dangers.yml that is not a valid phrase."""


@dataclass(frozen=True)
class Phrase:
    """One line of dangers.yml, compiled."""

    source: str
    pattern: re.Pattern[str]

    def search(self, text: str) -> bool:
        return self.pattern.search(text) is not None


@dataclass(frozen=True)
class KindRules:
    kind: DangerKind
    signals: tuple[Phrase, ...]
    combinations: tuple[tuple[Phrase, ...], ...]

    def matches(self, text: str) -> Iterator[str]:
        """The sources of the signals and combinations found in the (normalised, masked) text."""
        for signal in self.signals:
            if signal.search(text):
                yield signal.source
        for combination in self.combinations:
            if all(part.search(text) for part in combination):
                yield " + ".join(part.source for part in combination)


_TOKEN = re.compile(r"\s*(\.\.\.|/[^/\s]+/|<\w+>|[()|?]|[^\s()|?]+)")


class _Compiler:
    """Turns the phrase notation of dangers.yml into regular expressions over `" word word # word "`."""

    def __init__(self, groups: Mapping[str, Iterable[str]]) -> None:
        self._groups = {name: list(lines) for name, lines in groups.items()}
        self._compiled: dict[str, str] = {}
        self._busy: set[str] = set()
        self.vocabulary: set[str] = set()

    def phrase(self, source: str) -> Phrase:
        try:
            return Phrase(source, re.compile("(?<= )(?:" + self.regex(source) + ")"))
        except (DangerDataError, re.error, IndexError, KeyError) as error:
            raise DangerDataError(f"{source!r}: {error}") from error

    def regex(self, source: str) -> str:
        tokens = [t for t in _TOKEN.findall(source) if t]
        rest = "".join(tokens)
        if rest.replace(" ", "") != source.replace(" ", ""):
            raise DangerDataError(f"{source!r}: cannot read it")
        regex, position = self._alternation(tokens, 0)
        if position != len(tokens):
            raise DangerDataError(f"{source!r}: unbalanced ')' at word {position + 1}")
        return regex

    def _alternation(self, tokens: list[str], position: int) -> tuple[str, int]:
        branches = []
        while True:
            branch, position = self._sequence(tokens, position)
            branches.append(branch)
            if position < len(tokens) and tokens[position] == "|":
                position += 1
                continue
            return "|".join(branches), position

    def _sequence(self, tokens: list[str], position: int) -> tuple[str, int]:
        parts = []
        while position < len(tokens) and tokens[position] not in "|)":
            atom, position = self._atom(tokens, position)
            if position < len(tokens) and tokens[position] == "?":
                atom, position = f"(?:{atom})?", position + 1
            parts.append(atom)
        if not parts:
            raise DangerDataError("an empty choice")
        return "".join(parts), position

    def _atom(self, tokens: list[str], position: int) -> tuple[str, int]:
        part = tokens[position]
        if part == "(":
            inner, position = self._alternation(tokens, position + 1)
            if position >= len(tokens) or tokens[position] != ")":
                raise DangerDataError("a '(' with no ')'")
            return f"(?:{inner})", position + 1
        if part == "...":
            return _GAP, position + 1
        if part.startswith("<") and part.endswith(">"):
            return f"(?:{self._group(part[1:-1])})", position + 1
        if len(part) > 2 and part.startswith("/") and part.endswith("/"):
            return f"(?:{part[1:-1]}) ", position + 1
        if part == "?":
            raise DangerDataError("a '?' with nothing before it")
        return self._word(part), position + 1

    def _word(self, token: str) -> str:
        infix = token.startswith("*")
        prefix = token.endswith("*")
        stem = "".join(words(token.strip("*")))
        if not stem:
            raise DangerDataError(f"{token!r} has no letters")
        if not (infix or prefix) and len(stem) >= FUZZY_MIN_LENGTH and stem.isascii():
            self.vocabulary.add(stem)
        start = "[^ #]*" if infix else ""
        end = "[^ #]* " if prefix else " "
        return start + re.escape(stem) + end

    def _group(self, name: str) -> str:
        if name in self._compiled:
            return self._compiled[name]
        if name in self._busy:
            raise DangerDataError(f"group <{name}> refers to itself")
        self._busy.add(name)
        lines = self._groups[name]
        self._compiled[name] = "|".join(f"(?:{self.regex(line)})" for line in lines)
        self._busy.discard(name)
        return self._compiled[name]


class DangerDetector:
    """The lexicon of the safeguarding gate: the kinds of danger the phrases of dangers.yml find."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        compiler = _Compiler(data.get("groups") or {})
        self._masks = tuple(compiler.phrase(line) for line in data.get("not_danger") or [])
        self._kinds = tuple(
            KindRules(
                kind=DangerKind(name),
                signals=tuple(compiler.phrase(line) for line in rules.get("signals") or []),
                combinations=tuple(
                    tuple(compiler.phrase(part) for part in parts)
                    for parts in rules.get("combinations") or []
                ),
            )
            for name, rules in (data.get("kinds") or {}).items()
        )
        self._vocabulary = tuple(sorted(compiler.vocabulary))
        self._known = frozenset(compiler.vocabulary) | frozenset(data.get("real_words") or [])

    @classmethod
    def from_file(cls, path: Path = DANGERS_FILE) -> DangerDetector:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    @property
    def rules(self) -> tuple[KindRules, ...]:
        return self._kinds

    def kinds(self, text: str) -> set[DangerKind]:
        return set(self._found(self.prepare(text)))

    def explain(self, text: str) -> dict[DangerKind, list[str]]:
        """Each kind found, with the lines of dangers.yml that found it (for tests and reviews)."""
        return self._found(self.prepare(text))

    def _found(self, prepared: str) -> dict[DangerKind, list[str]]:
        found = {rules.kind: list(rules.matches(prepared)) for rules in self._kinds}
        return {kind: lines for kind, lines in found.items() if lines}

    def prepare(self, text: str) -> str:
        """The text as matched: words, typos corrected, the not-danger phrases blanked to `~`."""
        prepared = " " + " ".join(self._correct(w) for w in words(text)) + f" {_BOUNDARY} "
        for mask in self._masks:
            prepared = mask.pattern.sub(lambda m: f"{_BLANK} " * len(m.group(0).split()), prepared)
        return prepared

    def _correct(self, word: str) -> str:
        if len(word) < FUZZY_MIN_LENGTH or word in self._known or not word.isascii():
            return word
        return _nearest(word, self._vocabulary) or word


@lru_cache(maxsize=4096)
def _nearest(word: str, vocabulary: tuple[str, ...]) -> str | None:
    limit = 2 if len(word) >= 11 else 1
    candidates = [v for v in vocabulary if v[0] == word[0]]
    best = process.extractOne(word, candidates, scorer=Levenshtein.distance, score_cutoff=limit)
    return best[0] if best else None


@cache
def default_detector() -> DangerDetector:
    """The detector over the project's dangers.yml, built once per process."""
    return DangerDetector.from_file()
