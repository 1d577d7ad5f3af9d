"""The answers against the code they quote, and in words a parent can read: an answer that misquotes the
code or reads above a parent's level would mislead the parents it is for.

Quotations. In a response's text, a quotation of the code is recognised in two forms:
- a citation `(Code: "...")` or `(Code: "..."; "...")`: each quoted text must be a whole heading of
  the code, word for word;
- any other span in double quotes ("..." or curly “...”): it must occur in the code word for word.
Only whitespace and curly/straight quote marks are normalised; case and wording are not. Responses
that quote something other than the code (the parent's own words) are listed in NOT_CODE_QUOTES.

Readability. Each answer a parent sees is measured with textstat's Flesch-Kincaid grade on the text as
sent (template variables filled from schools.example.yml), with web and email addresses removed (they
are copied, not read), without the closing `(Code: "...")` citation (the code's own headings, which
must stay verbatim and are there to look up, not to act on), and with each line counted as a sentence
(a bullet or a heading is read as one). A reading age of 11 is US grade 6 (age = grade + 5), so the
median answer must be at most grade 6; a single answer may reach grade 7, because Flesch-Kincaid is
noisy on short texts and some long words are the code's own ("cyberbullying", "social media") or the
legal words an answer glosses. The word limit counts every word, citations included.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Mapping
from pathlib import Path

import pytest
import textstat
import yaml

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.responses import ResponseBook
from bot.nlu.intents import CODE_QUESTIONS, POSTING_QUESTIONS
from bot.schools import Schools, load_schools

ROOT = Path(__file__).resolve().parent.parent
PARENT = "parent-answers"
POLICY = ROOT / "docs/social-media-code-of-conduct.txt"
DOMAIN = ROOT / "domain.yml"

QUOTATION = re.compile(r'["“]([^"”]+)["”]')
CITATION = re.compile(r'\(Code: ["“][^"”]+["”](?:; ["“][^"”]+["”])*\)')
"""`(Code: "Heading")`, or several headings: `(Code: "Heading"; "Other heading")`."""
NOT_CODE_QUOTES = {"utter_ask_who": {"don't know"}}
"""Quotes of what a parent may type, not of the code."""

STAFF_SIDE = "utter_staff_"
"""Staff cards and lines: read by school staff, measured by neither bound below."""
MIN_WORDS_MEASURED = 6
"""Shorter responses are labels ("Complaint", "waiting for staff"), not sentences to grade."""
MAX_GRADE = 7.0
MAX_MEDIAN_GRADE = 6.0
MAX_WORDS = 120
LONGER = {"utter_privacy_info": 260}
"""The privacy notice lists what UK GDPR Article 13 requires (controller, DPO, purpose, lawful basis, each
retention period, Telegram as a recipient outside the UK, rights, the ICO): the one answer allowed to run
longer."""

GLOSSES = {
    "defamatory": "defamatory (untrue and harmful to someone's good name)",
    "discriminatory": "discriminatory (unfair to people because of who they are)",
    "grievances": "grievances (things you are unhappy about)",
    "misinformation": "misinformation (untrue or misleading claims)",
    "prosecution": "prosecution (a criminal case in court)",
}
"""Legal words and the plain words given with them, the first time an answer uses them."""

PROMISES = ("put right", "will contact you", "will get back to you", "will be sorted", "will be removed")
"""Outcomes neither the code nor the bot can promise: who decides, and what happens next, is said instead."""

SAMPLE_VALUES = {
    "reference": "OAK-7KQ2",
    "contact_phrase": "here in this chat",
    "count": "2",
    "kind_label": "Complaint",
    "details": "Concern: my son was given a detention he did not deserve",
    "contact": "Reply in this chat",
    "evidence": "none",
    "cases": "OAK-7KQ2: Complaint, waiting for staff, opened 29 Nov 2026",
    "staff_name": "Mrs Khan",
    "text": "Thank you, we will look into it.",
    "detail": "07700 900 123",
    "recipients": "the staff at Oakfield Primary School",
}
"""Values for the variables the flows fill in; any other variable reads as one short word."""

_ADDRESS = re.compile(r"https?://\S+|\S+@\S+|\b[\w-]+(?:\.[\w-]+)+(?:/\S*)?")


def _normalise(text: str) -> str:
    text = text.replace("“", '"').replace("”", '"').replace("\u2018", "'").replace("\u2019", "'")
    return " ".join(text.split())


def cited_sections(text: str) -> list[str]:
    """The headings an answer cites, in order."""
    return [section for citation in CITATION.findall(text) for section in QUOTATION.findall(citation)]


@functools.cache
def policy_text() -> str:
    return _normalise(POLICY.read_text(encoding="utf-8"))


@functools.cache
def policy_headings() -> frozenset[str]:
    """Lines of the code that stand alone between blank lines and end without a full stop."""
    blocks = re.split(r"\n\s*\n", POLICY.read_text(encoding="utf-8"))
    return frozenset(
        _normalise(block)
        for block in blocks
        if block.strip() and "\n" not in block.strip() and not block.strip().endswith((".", ":"))
    )


@functools.cache
def response_texts() -> dict[str, str]:
    """Every response's raw text (first variation), as written in domain.yml."""
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    return {name: str(variations[0].get("text", "")) for name, variations in domain["responses"].items()}


def school_variables(schools: Schools) -> dict[str, str]:
    """The variables the engine fills from configuration, for the first school."""
    school = schools.schools[0]
    return {
        "trust_name": schools.trust.name,
        "code_url": schools.trust.code_of_conduct_url,
        "school_name": school.name,
        "complaints_url": school.complaints_policy_url,
        "school_email": school.email,
        "school_phone": school.phone,
        "retention_hours": "24",
        "platform": "WhatsApp",
        "out_of_hours_phone": "0300 000 0000",
    }


def filled(responses: ResponseBook, name: str, schools: Schools) -> str:
    """The response as a parent reads it: the first school's details and sample values filled in."""
    variables = {**school_variables(schools), **SAMPLE_VALUES}
    fields = responses.template_fields(name)
    variables |= {field: "it" for field in fields if field not in variables}
    return responses.render(name, variables).text


def readable_prose(text: str) -> str:
    """The text as measured: citations and addresses removed, every line a sentence."""
    lines = []
    for line in _ADDRESS.sub("", CITATION.sub("", text)).splitlines():
        line = line.strip().removeprefix("- ").strip().rstrip(":").strip()
        if line:
            lines.append(line if line[-1] in ".!?" else f"{line}.")
    return " ".join(lines)


def grade(text: str) -> float:
    return float(textstat.flesch_kincaid_grade(readable_prose(text)))


def measured(responses: ResponseBook, schools: Schools) -> Mapping[str, str]:
    """The parent-facing answers long enough to grade, filled in."""
    texts = {name: filled(responses, name, schools) for name in sorted(responses.names)}
    return {
        name: text
        for name, text in texts.items()
        if not name.startswith(STAFF_SIDE) and len(text.split()) >= MIN_WORDS_MEASURED
    }


# ---- quotations ------------------------------------------------------------------------------------------


def misquotations(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Cited headings that are not the code's, and quoted words the code does not say."""
    text = _normalise(text)
    policy, headings = policy_text(), policy_headings()
    wrong = [f"cites {section!r}" for section in cited_sections(text) if section not in headings]
    quoted = QUOTATION.findall(CITATION.sub("", text))
    return wrong + [
        f"quotes {phrase!r}" for phrase in quoted if phrase not in policy and phrase not in allowed
    ]


@functools.cache
def button_titles() -> frozenset[str]:
    """Every button's title: a text that names a button in quotes ("tap "Yes, send it"") quotes the
    bot's own screen, not the code."""
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    return frozenset(
        _normalise(str(button["title"]))
        for variations in domain["responses"].values()
        for button in variations[0].get("buttons") or []
    )


@pytest.mark.parametrize("name", sorted(response_texts()))
def test_every_quotation_of_the_code_is_word_for_word(name: str) -> None:
    allowed = NOT_CODE_QUOTES.get(name, set()) | button_titles()
    assert misquotations(response_texts()[name], allowed) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('(Code: "Actions to be considered in the event of noncompliance")', 1),
        ('(Code: "Expected social media conduct"; "Legal framework")', 0),
        ('(Code: "Expected social media conduct"; "Legal Framework")', 1),
        ('(Code: "Statement of intent") It "keeps the right to ask" for removal.', 1),
        ("It retains “the right to request that any potentially damaging comments” be removed.", 0),
        ('Parents "will not attempt to \u2018friend\u2019 or \u2018follow\u2019 any member of staff".', 0),
        ('Parents "will not try to friend or follow staff".', 1),
        ('The code covers "Internet postings".', 1),
    ],
)
def test_the_quotation_check_catches_a_shortened_heading_and_a_paraphrase(text: str, found: int) -> None:
    assert len(misquotations(text)) == found


# ---- plain words ----------------------------------------------------------------------------------------


def test_answers_are_readable_at_about_reading_age_11() -> None:
    schools = load_schools(ROOT / "schools.example.yml")
    responses = ResponseBook.from_domain(DOMAIN)
    grades = {name: grade(text) for name, text in measured(responses, schools).items()}
    too_hard = {name: g for name, g in grades.items() if g > MAX_GRADE}
    assert too_hard == {}
    assert statistics.median(grades.values()) <= MAX_MEDIAN_GRADE


def word_count(text: str) -> int:
    """Words as a reader counts them: a bullet's dash is not one."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def test_no_answer_is_longer_than_about_120_words(responses: ResponseBook, schools: Schools) -> None:
    lengths = {name: word_count(text) for name, text in measured(responses, schools).items()}
    assert {name: n for name, n in lengths.items() if n > LONGER.get(name, MAX_WORDS)} == {}


@pytest.mark.parametrize("word", sorted(GLOSSES))
def test_legal_words_are_glossed_once_in_every_answer_that_uses_them(word: str) -> None:
    for name, text in response_texts().items():
        plain = CITATION.sub("", _normalise(text))
        uses = re.findall(rf"\b{word}\b", plain, flags=re.IGNORECASE)
        if uses:
            assert plain.count(GLOSSES[word]) == 1, f"{name}: gloss {word!r} once, where first used"
            first = re.search(rf"\b{word}\b", plain, flags=re.IGNORECASE)
            assert first is not None
            assert plain.index(GLOSSES[word]) == first.start(), f"{name}: gloss {word!r} where first used"


# ---- what the answers promise and where they are shown ---------------------------------------------------


@pytest.mark.parametrize("phrase", PROMISES)
def test_no_answer_promises_an_outcome_the_bot_cannot_keep(phrase: str) -> None:
    promising = [name for name, text in response_texts().items() if phrase in text.lower()]
    assert promising == []


@pytest.mark.parametrize("intent", sorted(CODE_QUESTIONS))
async def test_the_platform_line_is_added_only_to_answers_about_posting_or_messaging(
    intent: str, engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, f'/{intent}{{"platform": "whatsapp"}}')
    note = responses.render("utter_platform_note", {"platform": "WhatsApp"}).text
    assert cited_sections(replies[0].text) == cited_sections(responses.render(f"utter_{intent}", {}).text)
    assert (note in replies[0].text) is (intent in POSTING_QUESTIONS)


async def test_the_platform_line_says_what_the_code_covers() -> None:
    note = response_texts()["utter_platform_note"]
    assert '"all forms of social media"' in note
    assert "chat apps" in note
    assert "social networks" in note


async def test_a_bullying_report_starts_with_the_advice_then_asks_about_danger(
    engine: DialogueEngine, responses: ResponseBook
) -> None:
    replies = await engine.handle(PARENT, "/report_cyberbullying")
    advice = responses.render("utter_report_cyberbullying", {}).text
    assert replies[0].text.startswith(advice[:40])
    assert "never screenshot, save or forward a nude" in replies[0].text.lower()
    assert not replies[0].buttons, "the advice's buttons would lead away from the danger question"
    assert "immediate danger" in replies[-1].text
    assert [b.payload for b in replies[-1].buttons] == ["/affirm", "/deny"]
