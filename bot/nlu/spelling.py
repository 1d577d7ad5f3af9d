"""Reading misspelt words as the words they mean, before the model sees them.

Parents type on phones: "teecher", "facebok", "complant", "nativty". Both of the model's readers suffer:
an unseen word is no n-gram the classifier knows, and the encoder's word pieces for "teecher" are not
those of "teacher". A word the dictionary does not know is replaced by the nearest word it does know
(symspellpy: one edit for short words, two for long ones, the more common word on a tie), and common
phone spellings ("u", "pls", "dont") by their words. The dictionary is symspellpy's English word list
with the domain's own words added (platforms, school words, the trust's school names), so that
"whatsapp" is a word and "whatsap" is read as it. Known words are never changed: "aloud" stays "aloud".

What the parent wrote is never changed anywhere else: transcripts, the staff card and the safeguarding
lexicon read the original text; only the model reads the respelling.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass

from symspellpy import SymSpell, Verbosity

ENGLISH_WORDS = "frequency_dictionary_en_82_765.txt"
"""symspellpy's English frequency list (82,765 words, from Google Books n-grams; MIT licence)."""

DOMAIN_COUNT = 10**9
"""Frequency given to the domain's words: on a tie in distance they win over ordinary English
("senco" over "secco")."""

SHORTEST_CORRECTED = 4
"""Shorter unknown words are left alone: too many words lie one edit away from a three-letter one."""

LONG_WORD = 7
"""From this length a word may be two edits away from the word it means."""

_DOMAIN_WORDS = """
facebook whatsapp whatsapps instagram insta tiktok tiktoks snapchat snapchats youtube youtuber twitter
tweet tweets retweet discord roblox fortnite minecraft mumsnet nextdoor reddit linkedin messenger telegram
threads selfie selfies livestream hashtag dm dms emoji emojis online groupchat groupchats screenshot
screenshots screenshotted unfriend unfollow

headteacher headteachers headmistress headmaster deputy senco sendco send ehcp ofsted safeguarding dsl pta
ptfa governors governor academy academies trust ceo nativity reception nursery sixth form year tutor ta tas
lunchtime playtime pickup dropoff inset cyberbullying cyberbully cyberbullied bullying bullied bully bullies

ceop nspcc childline samaritans gdpr ico defamation defamatory harassment malicious
"""
DOMAIN_WORDS = tuple(_DOMAIN_WORDS.split())
"""Platforms and apps, school words, help lines and the law: words the English list lacks or spells
otherwise; the trust's school names and each platform's
spellings come from the model's lookup tables (nlu/lookups.yml), added when the model is trained."""

PHONE_SPELLINGS = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "pls": "please",
    "plz": "please",
    "plse": "please",
    "cos": "because",
    "coz": "because",
    "cuz": "because",
    "bc": "because",
    "wot": "what",
    "wat": "what",
    "ppl": "people",
    "msg": "message",
    "msgs": "messages",
    "txt": "text",
    "txts": "texts",
    "b4": "before",
    "abt": "about",
    "thx": "thanks",
    "thnx": "thanks",
    "thanx": "thanks",
    "tho": "though",
    "hw": "homework",
    "yr": "year",
    "sch": "school",
    "ds": "son",
    "dd": "daughter",
    "dh": "husband",
    "2day": "today",
    "2moro": "tomorrow",
    "2nite": "tonight",
    "gr8": "great",
    "dont": "don't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "arent": "aren't",
    "werent": "weren't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "couldnt": "couldn't",
    "shouldnt": "shouldn't",
    "wouldnt": "wouldn't",
    "cant": "can't",
    "wont": "won't",
    "im": "i'm",
    "ive": "i've",
    "youre": "you're",
    "theyre": "they're",
    "thats": "that's",
    "whats": "what's",
    "shes": "she's",
    "hes": "he's",
    "theres": "there's",
}
"""Phone and chat spellings of common words (and "ds"/"dd"/"dh", Mumsnet's son, daughter, husband),
read as the words; apostrophes are put back because the encoder learnt "don't", not "dont"."""

_WORD = re.compile(r"[A-Za-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")


@dataclass(frozen=True)
class Respelling:
    """A text as the model reads it, and where each word of the original ended up in it."""

    text: str
    spans: tuple[tuple[int, int, int, int], ...]
    """Per replaced word: its start and end in the original text, then in the respelled text."""

    def changed(self) -> bool:
        return bool(self.spans)

    def moved(self, position: int) -> int:
        """Where a position of the original text is in the respelled text (inside a replaced word: at
        the same side of the replacement)."""
        shift = 0
        for start, end, new_start, new_end in self.spans:
            if position < start:
                break
            if position < end:
                return new_start if position == start else new_end
            shift = new_end - end
        return position + shift


class Speller:
    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self._symspell = SymSpell(max_dictionary_edit_distance=2)
        english = importlib.resources.files("symspellpy") / ENGLISH_WORDS
        with importlib.resources.as_file(english) as path:
            self._symspell.load_dictionary(str(path), term_index=0, count_index=1, encoding="utf-8")
        self.add_words(DOMAIN_WORDS)
        self.add_words(extra_words)

    def add_words(self, words: Iterable[str]) -> None:
        """Makes each word (each word of a phrase, "st aidans") a known word the speller corrects to."""
        for phrase in words:
            for word in _WORD.findall(phrase.lower()):
                if not word.isdigit():
                    self._symspell.create_dictionary_entry(word, DOMAIN_COUNT)

    def knows(self, word: str) -> bool:
        return word.lower() in self._symspell.words

    def word(self, word: str) -> str:
        """The word as meant: a phone spelling's word, the nearest known word, or the word itself."""
        lower = word.lower()
        if lower in PHONE_SPELLINGS:
            return PHONE_SPELLINGS[lower]
        squeezed = _REPEATS.sub(r"\1", lower)
        if squeezed in PHONE_SPELLINGS and lower not in self._symspell.words:
            return PHONE_SPELLINGS[squeezed]  # "pleeease", "shhes"
        if len(lower) < SHORTEST_CORRECTED or not lower.isalpha() or lower in self._symspell.words:
            return word
        distance = 2 if len(lower) >= LONG_WORD else 1
        found = self._symspell.lookup(lower, Verbosity.TOP, max_edit_distance=distance)
        return found[0].term if found else word

    def respell(self, text: str) -> Respelling:
        """The text with each word read as meant; punctuation and spacing as they were."""
        pieces: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        position = 0
        length = 0
        for match in _WORD.finditer(text):
            meant = self.word(match.group())
            if meant == match.group():
                continue
            before = text[position : match.start()]
            pieces.append(before)
            length += len(before)
            spans.append((match.start(), match.end(), length, length + len(meant)))
            pieces.append(meant)
            length += len(meant)
            position = match.end()
        pieces.append(text[position:])
        return Respelling("".join(pieces), tuple(spans))


@functools.lru_cache(maxsize=1)
def shared_speller() -> Speller:
    """One speller per process (building the dictionary takes about two seconds)."""
    return Speller()
