"""The privacy notice (/privacy, and /start's one line) states the facts a data protection officer expects,
each taken from configuration: controller, DPO contact, purpose, lawful basis, every retention period,
where case records live, and the rights with how to use them."""

from __future__ import annotations

from bot.config import Settings
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.notice import ICO_COMPLAINTS_URL, notice_variables
from bot.dialogue.responses import ResponseBook
from bot.nlu.model import ProjectPaths
from bot.schools import Schools


def _book(paths: ProjectPaths, schools: Schools) -> tuple[ResponseBook, Settings]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        message_retention_hours=12,
        case_retention_days=400,
        unresolved_case_retention_days=200,
    )
    trust = schools.trust.copy(
        update={"dpo_email": "dpo@trust.example", "lawful_basis": "legitimate interests (Art. 6(1)(f))"}
    )
    return ResponseBook.from_domain(paths.domain, notice_variables(settings, trust)), settings


def test_the_notice_states_every_fact_from_configuration(paths: ProjectPaths, schools: Schools) -> None:
    book, _ = _book(paths, schools)
    notice = book.render("utter_privacy_info", {"school_name": "Oakfield Primary School"}).text
    facts = {
        "controller": f"{schools.trust.name} is responsible for your data (the data controller)",
        "DPO": "Data protection officer: dpo@trust.example",
        "purpose": "pass a concern to the staff at Oakfield Primary School",
        "lawful basis": "Lawful basis: legitimate interests (Art. 6(1)(f))",
        "messages": "Your messages to me: 12 hours",
        "where cases live": "kept in this bot's database",
        "resolved cases": "until 400 days after it is resolved",
        "unresolved cases": "never resolved, it is deleted 200 days after its last message",
        "rights": "to see, correct or delete your data, or object",
        "/forget": "/forget deletes your profile",
        "complaint": f"Information Commissioner's Office, {ICO_COMPLAINTS_URL}",
    }
    missing = {fact: words for fact, words in facts.items() if words not in notice}
    assert missing == {}
    assert "kept by the school" not in notice


def test_start_and_forget_point_to_the_same_facts(paths: ProjectPaths, schools: Schools) -> None:
    book, _ = _book(paths, schools)
    welcome = book.render("utter_welcome", {}).text
    assert f"{schools.trust.name} is responsible" in welcome
    assert "12 hours" in welcome
    assert "/privacy" in welcome
    for response in ("utter_forgotten", "utter_forget_me"):
        text = book.render(response, {}).text
        assert "dpo@trust.example" in text, response
        assert "400 days" in text, response


async def test_privacy_answers_with_the_configured_notice(engine: DialogueEngine, schools: Schools) -> None:
    [notice] = await engine.handle("p1", "/privacy")
    assert schools.trust.dpo_email in notice.text
    assert "24 hours" in notice.text
    assert "365 days" in notice.text
    assert "{" not in notice.text, "every template variable is filled"


def test_the_notice_names_telegram_the_transfer_and_every_later_period(
    paths: ProjectPaths, schools: Schools
) -> None:
    """What a parent is told must be all that happens: profiles, the audit log and logs have periods of
    their own; posts in staff groups go with
    their case; Telegram is a recipient outside the UK; and deleting here leaves the parent's own chat."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, profile_retention_days=200, audit_retention_days=500, log_retention_days=14
    )
    book = ResponseBook.from_domain(paths.domain, notice_variables(settings, schools.trust))
    notice = book.render("utter_privacy_info", {"school_name": "Oakfield Primary School"}).text
    facts = {
        "profile": "Your profile (your Telegram id and school): 200 days after your last message",
        "audit log": "What staff did with cases: 500 days",
        "logs": "The bot's logs (no words, no Telegram ids): 14 days",
        "staff groups": "Its posts in the staff's Telegram groups are deleted with it",
        "tombstone": "or replaced by a notice if Telegram no longer allows that",
        "Telegram": "Telegram (Telegram FZ-LLC and Telegram Messenger Inc.)",
        "transfer": "carries our chats on its servers outside the UK",
        "own copy": "does not delete our chat from your Telegram app",
    }
    missing = {fact: words for fact, words in facts.items() if words not in notice}
    assert missing == {}
    assert len(notice) <= 4096, "one Telegram message"
    assert "Telegram app" in book.render("utter_forgotten", {}).text
