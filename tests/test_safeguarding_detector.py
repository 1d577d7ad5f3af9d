"""The lexicon of the safeguarding gate (bot/safeguarding/detector.py) and the gate's combination of it with
the danger model's reading (bot/safeguarding/gate.py): the data, the matcher, the tiers, the guidance.

The lexicon is checked alone on the team's own tables (now part of the danger corpus, so no measure of the
model): it answers alone while the model loads, so it must stay precise. The gate's figures on messages
nobody here has seen are in tests/test_gate_contexts.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.dialogue.responses import ResponseBook
from bot.safeguarding import DangerKind, DangerReading, Tier
from bot.safeguarding.corpus import CORPUS_DIR, Labelled, read_labelled
from bot.safeguarding.detector import DangerDataError, DangerDetector, default_detector, words
from bot.safeguarding.gate import DangerGate
from bot.schools import Schools

ROOT = Path(__file__).resolve().parent.parent
DEV = read_labelled(CORPUS_DIR / "w0-team-dev.tsv")
GUIDANCE_WORDS = (60, 125)
NUMBERS = {
    DangerKind.IMMEDIATE: ["999"],
    DangerKind.MISSING: ["999"],
    DangerKind.SEXUAL: [
        "999",
        "ceop.police.uk",
        "Report Remove",
        "0800 1111",
        "Do not forward, save or screenshot",
    ],
    DangerKind.SUICIDE_SELF_HARM: ["999", "A&E", "116 123", "0800 1111", "0800 068 4141", "NHS 111"],
    DangerKind.ABUSE_BY_ADULT: ["999", "0808 800 5000", "children's services"],
}


@pytest.fixture(scope="module")
def detector() -> DangerDetector:
    return default_detector()


@pytest.fixture(scope="module")
def gate(detector: DangerDetector) -> DangerGate:
    return DangerGate(detector)


def reading(probability: float, kind: DangerKind = DangerKind.MISSING, sure: float = 0.9) -> DangerReading:
    return DangerReading(probability, ((kind, sure),), full_at=0.8, check_at=0.2, lexicon_at=0.2, kind_at=0.5)


def _id(row: Labelled) -> str:
    return f"{row.kind.value if row.kind else 'calm'}: {row.text[:50]}"


# ------------------------------------------------------------------ the data and the matcher


def test_every_kind_of_danger_has_signals_in_the_data(detector: DangerDetector) -> None:
    assert {rules.kind for rules in detector.rules} == set(DangerKind)
    assert all(rules.signals for rules in detector.rules)


@pytest.mark.parametrize(
    "line", ["(gone missing", "gone missing)", "<no_such_group> missing", "missing | ", "? missing"]
)
def test_a_phrase_that_cannot_be_read_is_named_in_the_error(line: str) -> None:
    with pytest.raises(DangerDataError, match="missing"):
        DangerDetector({"kinds": {"missing": {"signals": [line]}}})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She's MISSING!!!", ["shes", "missing", "#"]),
        ("n00ds", ["noods"]),
        ("k1ll h1mself", ["kill", "himself"]),
        ("nooooooods", ["noods"]),
        ("Zaginęła", ["zaginela"]),
        ("my 11yo at 4pm", ["my", "11yo", "at", "4pm"]),
        ("self-harm", ["self", "harm"]),
        ("kill him self", ["kill", "himself"]),
        ("ابني، مفقود", ["ابني", "#", "مفقود"]),
    ],
)
def test_a_message_is_tidied_into_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("she sent n00dz to him", DangerKind.SEXUAL),
        ("i think hes being grommed", DangerKind.SEXUAL),
        ("he is being sextortian on snap", DangerKind.SEXUAL),
        ("my son wants to unalive", DangerKind.SUICIDE_SELF_HARM),
        ("she put kms on her story", DangerKind.SUICIDE_SELF_HARM),
        ("she is suicidel", DangerKind.SUICIDE_SELF_HARM),
        ("my boy is misssing", DangerKind.MISSING),
        ("they will st4b him", DangerKind.IMMEDIATE),
        ("threatning to kill my son", DangerKind.IMMEDIATE),
        ("fiul meu a dispărut", DangerKind.MISSING),
        ("meri beti khudkushi ki baat karti hai", DangerKind.SUICIDE_SELF_HARM),
    ],
)
def test_slang_misspellings_and_other_languages_name_their_kind(
    detector: DangerDetector, text: str, kind: DangerKind
) -> None:
    assert kind in detector.kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "this homework is killing me",
        "I'll kill him if he forgets his book lol",
        "dying to know what's for tea",
        "PE kit missing again!!",
        "what does the code say about photos",
        "can I share photos of the school play on facebook?",
        "my son hurt his ankle in PE",
        "my daughter is starting year 7",
    ],
)
def test_idioms_and_ordinary_meanings_are_not_danger(detector: DangerDetector, text: str) -> None:
    assert not detector.kinds(text), detector.explain(text)


@pytest.mark.parametrize("word", ["my son ", "kill ", "missing ", "a " * 3 + "threatening "])
def test_a_message_of_telegrams_full_length_is_read_in_well_under_a_second(
    detector: DangerDetector, word: str
) -> None:
    text = (word * 4096)[:4096]
    started = time.perf_counter()
    detector.kinds(text)
    assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------------ the tiers: lexicon and model combined


@pytest.mark.parametrize(
    ("text", "probability", "tier", "kinds"),
    [
        ("my son is missing", 0.9, Tier.FULL, {DangerKind.MISSING}),  # both agree
        ("my son is missing", 0.3, Tier.FULL, {DangerKind.MISSING}),  # the model unsure: the lexicon's word
        ("my son is missing", 0.1, Tier.CHECK, {DangerKind.MISSING}),  # the model doubts the lexicon
        ("something is wrong please answer", 0.9, Tier.FULL, {DangerKind.MISSING}),  # the model alone
        ("something is wrong please answer", 0.5, Tier.CHECK, {DangerKind.MISSING}),
        ("something is wrong please answer", 0.1, Tier.CALM, set()),
    ],
)
def test_the_gate_combines_the_lexicon_and_the_model_into_a_tier(
    gate: DangerGate, text: str, probability: float, tier: Tier, kinds: set[DangerKind]
) -> None:
    assessment = gate.assess(text, reading(probability))
    assert (assessment.tier, set(assessment.kinds)) == (tier, kinds)


def test_a_model_unsure_of_the_kind_gives_the_general_guidance(gate: DangerGate) -> None:
    assessment = gate.assess("something is wrong please answer", reading(0.95, sure=0.3))
    assert assessment.urgent
    assert assessment.guidance_responses() == ("utter_urgent_safeguarding",)


def test_without_a_reading_the_lexicon_answers_alone(gate: DangerGate) -> None:
    assert gate.assess("my son is missing", None).tier is Tier.FULL
    assert gate.assess("something is wrong please answer", None).tier is Tier.CALM


@pytest.mark.parametrize("text", ["مرحبا كيف حالك", "Здравствуйте", "我的孩子", "ok ابني في المستشفى"])
@pytest.mark.parametrize("probability", [None, 0.0, 0.99])
def test_a_message_in_a_script_the_bot_cannot_read_gets_the_general_guidance_whatever_the_model_says(
    gate: DangerGate, text: str, probability: float | None
) -> None:
    assessment = gate.assess(text, None if probability is None else reading(probability))
    assert assessment.urgent
    assert assessment.guidance_responses() == ("utter_urgent_safeguarding",)


@pytest.mark.parametrize("text", ["👍", "123", "?!", ""])
def test_text_without_letters_is_not_treated_as_unreadable(gate: DangerGate, text: str) -> None:
    assert gate.assess(text, None).tier is Tier.CALM


# ------------------------------------------------------------------ the guidance for each kind


@pytest.mark.parametrize("kind", list(DangerKind))
def test_each_kind_has_short_guidance_with_its_numbers_and_no_buttons(
    kind: DangerKind, responses: ResponseBook, schools: Schools
) -> None:
    school = schools.schools[0]
    reply = responses.render(
        f"utter_urgent_{kind.value}", {"school_name": school.name, "school_phone": school.phone}
    )
    assert GUIDANCE_WORDS[0] <= len(reply.text.split()) <= GUIDANCE_WORDS[1]
    assert reply.text.startswith("If ")
    assert "999" in reply.text.split("\n")[0]
    for number in NUMBERS[kind]:
        assert number in reply.text
    assert school.phone in reply.text
    assert reply.buttons == ()


# ------------------------------------------------------------------ the tables


@pytest.mark.parametrize("row", [r for r in DEV if r.danger], ids=_id)
def test_dev_set_danger_names_its_kind(detector: DangerDetector, row: Labelled) -> None:
    assert row.kind in detector.kinds(row.text)


@pytest.mark.parametrize("row", [r for r in DEV if not r.danger], ids=_id)
def test_dev_set_calm_raises_no_alarm(detector: DangerDetector, row: Labelled) -> None:
    assert not detector.kinds(row.text), detector.explain(row.text)


def test_the_general_guidance_covers_every_kinds_lines(responses: ResponseBook, schools: Schools) -> None:
    """When the kind is unclear, the parent still gets each kind's numbers."""
    school = schools.schools[0]
    text = responses.render(
        "utter_urgent_safeguarding", {"school_name": school.name, "school_phone": school.phone}
    ).text
    assert "999" in text.split("\n")[0]
    for numbers in NUMBERS.values():
        for number in numbers:
            if number not in (
                "A&E",
                "Report Remove",
                "children's services",
                "Do not forward, save or screenshot",
            ):
                assert number in text, number
    assert "never forward" in text.lower()
    assert "24 hours" in text


def test_one_alarming_sentence_of_a_message_the_model_reads_as_calm_asks_first(gate: DangerGate) -> None:
    def with_part(part: float) -> DangerReading:
        return DangerReading(0.01, ((DangerKind.MISSING, 0.9),), 0.8, 0.2, 0.2, 0.5, part, part_at=0.6)

    text = "We got a fine for attendance. Anyway he searched for ways out. My question is the fine"
    assert gate.assess(text, with_part(0.7)).tier is Tier.CHECK
    assert gate.assess(text, with_part(0.5)).tier is Tier.CALM
