"""The danger detector (bot/safeguarding): its data, its matcher, its guidance, and its figures over two
tables of labelled messages: our own development set, and an independent set written by someone who had
not seen the detector (tests/data/safeguarding_messages.tsv, kept unchanged), scored with the real model.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.config import Schools
from bot.dialogue.responses import ResponseBook
from bot.nlu.client import InProcessNlu
from bot.safeguarding import DangerKind
from bot.safeguarding.detector import DangerDataError, DangerDetector, default_detector, words
from bot.safeguarding.report import Labelled, format_figures, measure, read_labelled

ROOT = Path(__file__).resolve().parent.parent
DEV = read_labelled(ROOT / "tests/data/safeguarding_dev.tsv")
INDEPENDENT = read_labelled(ROOT / "tests/data/safeguarding_messages.tsv")
MAX_FALSE_ALARMS = 0.05
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
async def independent_scores(nlu: InProcessNlu) -> list[float]:
    return [(await nlu.parse(row.text)).confidence_of("urgent_safeguarding") for row in INDEPENDENT]


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
    assessment = detector.assess(text, 0.0)
    assert not assessment.urgent, detector.explain(text)


@pytest.mark.parametrize("word", ["my son ", "kill ", "missing ", "a " * 3 + "threatening "])
def test_a_message_of_telegrams_full_length_is_read_in_well_under_a_second(
    detector: DangerDetector, word: str
) -> None:
    text = (word * 4096)[:4096]
    started = time.perf_counter()
    detector.assess(text, None)
    assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------------ the model's score and unreadable text


def test_the_model_score_makes_a_message_urgent_only_when_the_detector_names_no_kind(
    detector: DangerDetector,
) -> None:
    calm = "something is wrong please answer"
    assert detector.assess(calm, detector.urgent_threshold).model_urgent
    assert not detector.assess(calm, detector.urgent_threshold / 2).urgent
    assert not detector.assess(calm, None).urgent
    named = detector.assess("my son is missing", 0.99)
    assert named.kinds == {DangerKind.MISSING}
    assert not named.model_urgent


def test_the_model_must_be_near_certain_to_overrule_an_ordinary_meaning_the_detector_saw(
    detector: DangerDetector,
) -> None:
    text = "my daughter wants a job in dog grooming"
    assert not detector.assess(text, 0.98).urgent
    assert detector.assess(text, detector.idiom_threshold).model_urgent


@pytest.mark.parametrize("text", ["مرحبا كيف حالك", "Здравствуйте", "我的孩子", "ok ابني في المستشفى"])
def test_a_message_in_a_script_the_bot_cannot_read_is_urgent_even_without_the_model(
    detector: DangerDetector, text: str
) -> None:
    assessment = detector.assess(text, None)
    assert assessment.model_urgent
    assert assessment.guidance_responses() == ("utter_urgent_safeguarding",)


@pytest.mark.parametrize("text", ["👍", "123", "?!", ""])
def test_text_without_letters_is_not_treated_as_unreadable(detector: DangerDetector, text: str) -> None:
    assert not detector.assess(text, None).urgent


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
    assert not detector.assess(row.text, None).urgent, detector.explain(row.text)


def test_the_independent_set_has_the_size_the_issue_asks_for() -> None:
    danger = [r for r in INDEPENDENT if r.danger]
    assert len(danger) >= 150
    assert len(INDEPENDENT) - len(danger) >= 60
    assert {r.kind for r in danger} == set(DangerKind)


def test_independent_set_every_danger_message_is_urgent_and_few_calm_ones_are(
    detector: DangerDetector, independent_scores: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    figures = measure(INDEPENDENT, independent_scores, detector)
    with capsys.disabled():
        print("\n" + format_figures(figures, title="independent set", details=True))
    assert figures.recall_with_model is not None
    assert figures.recall_with_model["all"] == 1.0, [r.text for r in figures.misses]
    assert figures.false_alarms_with_model is not None
    assert figures.false_alarms_with_model <= MAX_FALSE_ALARMS, [r.text for r in figures.false_alarms]
    assert figures.kind_named >= 0.95
