"""domain.yml, nlu/ and the Python code agree, and every answer renders as a parent would see it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.dialogue.clarifying import SOMETHING_ELSE
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.inputs import CHOOSE_SCHOOL, DANGER_CHECK
from bot.dialogue.responses import ResponseBook
from bot.dialogue.variables import PLATFORM_NAMES
from bot.nlu.intents import ALL_INTENTS, CODE_QUESTIONS
from bot.nlu.model import ProjectPaths
from bot.schools import Schools
from tests.test_answers_policy import LONGER, MAX_WORDS, cited_sections, school_variables, word_count

ROOT = Path(__file__).resolve().parent.parent
FIXED_INTENTS = [
    "greet", "goodbye", "thank", "affirm", "deny", "bot_help", "human_handoff", "code_overview",
    "code_scope", "post_about_staff", "complain_online", "share_misinformation",
    "contact_staff_social", "group_chats", "breach_consequences", "removal_request", "legal_basis",
    "school_view_messages", "online_safety_children", "how_to_complain", "report_cyberbullying",
    "cyberbullying_advice", "report_breach", "urgent_safeguarding", "privacy_info", "forget_me",
    "out_of_scope",
]  # fmt: skip
"""The 27 intents, in domain.yml's order: fixed, so the trust's reviewed answers and the model's held-out
test sets keep meaning what they meant (CONTRIBUTING.md: how to add an intent)."""
ENGINE_RESPONSES = [
    "utter_fallback", "utter_fallback_offer_handoff", "utter_handoff_unavailable", "utter_welcome",
    "utter_choose_school", "utter_school_set", "utter_cancelled", "utter_platform_note",
    "utter_danger_check", "utter_danger_check_not_urgent", "utter_out_of_hours",
    "utter_out_of_hours_no_number", "utter_forgotten", "utter_non_text",
    "utter_error", "utter_clarify",
]  # fmt: skip
CLARIFY_OPTIONS = [f"utter_clarify_option_{i}" for i in FIXED_INTENTS if i != "out_of_scope"]
"""The button title of each intent a "Did you mean ...?" question may offer."""
POLICY_SECTIONS = [
    "Statement of intent",
    "Application of the code of conduct",
    "Legal framework",
    "Expected social media conduct",
    "Actions to be considered by the trust or individual schools in the event of noncompliance with this "
    "code of conduct",
]


def _nlu_intents(paths: ProjectPaths) -> dict[str, int]:
    counts: dict[str, int] = {}
    for file in paths.nlu.glob("*.yml"):
        for block in yaml.safe_load(file.read_text())["nlu"]:
            if "intent" in block:
                lines = [ln for ln in block["examples"].splitlines() if ln.strip().startswith("- ")]
                counts[block["intent"]] = counts.get(block["intent"], 0) + len(lines)
    return counts


def test_the_27_intents_are_the_same_in_spec_domain_nlu_and_code(paths: ProjectPaths) -> None:
    domain = yaml.safe_load(paths.domain.read_text())
    assert domain["intents"] == FIXED_INTENTS
    assert set(_nlu_intents(paths)) == set(FIXED_INTENTS)
    assert set(FIXED_INTENTS) == ALL_INTENTS


def test_every_intent_has_at_least_40_training_examples(paths: ProjectPaths) -> None:
    thin = {intent: n for intent, n in _nlu_intents(paths).items() if n < 40}
    assert thin == {}


@pytest.mark.parametrize(
    "response", [f"utter_{i}" for i in FIXED_INTENTS] + ENGINE_RESPONSES + CLARIFY_OPTIONS
)
def test_response_exists_and_renders_fully(response: str, responses: ResponseBook, schools: Schools) -> None:
    reply = responses.render(response, school_variables(schools))
    assert reply.text
    assert not re.search(r"\{\w+\}", reply.text), "a template variable was left unfilled"
    assert word_count(reply.text) <= LONGER.get(response, MAX_WORDS)
    for button in reply.buttons:
        name = button.payload.removeprefix("/").split("{", 1)[0]
        assert button.payload.startswith("/")
        assert name in ALL_INTENTS | {CHOOSE_SCHOOL, SOMETHING_ELSE, DANGER_CHECK}
        assert 0 < len(button.title) <= 30  # two buttons side by side fit a phone
        assert len(button.payload.encode()) <= 64  # Telegram's callback_data limit


@pytest.mark.parametrize("intent", sorted(CODE_QUESTIONS))
def test_code_answers_name_a_real_section_of_the_code_and_offer_next_steps(
    intent: str, responses: ResponseBook, schools: Schools
) -> None:
    policy = (ROOT / "docs/social-media-code-of-conduct.txt").read_text()
    reply = responses.render(f"utter_{intent}", school_variables(schools))
    cited = cited_sections(reply.text)
    assert cited, "the answer names no section of the code"
    for section in cited:
        assert section in POLICY_SECTIONS
        assert section in policy
    assert reply.buttons


@pytest.mark.parametrize("response", CLARIFY_OPTIONS)
def test_each_clarify_option_fits_a_button(response: str, responses: ResponseBook, schools: Schools) -> None:
    title = responses.render(response, school_variables(schools)).text
    assert 0 < len(title) <= 28
    assert "\n" not in title


def test_no_trust_or_school_contact_is_hard_coded_in_the_answers(schools: Schools) -> None:
    text = (ROOT / "domain.yml").read_text()
    for school in schools.schools:
        assert school.name not in text
        assert school.email not in text
        assert school.phone not in text
    assert schools.trust.name not in text


def test_platform_names_cover_every_platform_in_the_training_data(paths: ProjectPaths) -> None:
    values = set()
    for file in paths.nlu.glob("*.yml"):
        values |= set(re.findall(r'"entity": "platform", "value": "([a-z_]+)"', file.read_text()))
        values |= set(re.findall(r"\[([a-z_]+)\]\(platform\)", file.read_text()))
    assert values <= set(PLATFORM_NAMES)


def test_school_buttons_fit_telegram_callback_data(engine: DialogueEngine) -> None:
    for button in engine.school_buttons():
        assert len(button.payload.encode()) <= 64
