"""Settings and the schools file: good values load, bad ones give one clear line naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import MIN_SECRET_CHARS, ConfigError, load_settings
from bot.schools import DEFAULT_LAWFUL_BASIS, load_schools

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_schools_file_loads_and_matches_mentions() -> None:
    schools = load_schools(ROOT / "schools.example.yml")
    assert len(schools.schools) == 4
    assert schools.match("saint aidans").id == "st-aidans"
    assert schools.match("St Aidan's CE Primary School").id == "st-aidans"
    assert schools.match("nowhere high") is None


def test_a_missing_schools_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SCHOOLS_FILE: .*does not exist"):
        load_schools(tmp_path / "schools.yml")


def test_a_schools_file_with_a_missing_field_says_which(tmp_path: Path) -> None:
    broken = tmp_path / "schools.yml"
    text = (ROOT / "schools.example.yml").read_text().replace("    staff_chat_id: -1001000000002\n", "", 1)
    broken.write_text(text)
    with pytest.raises(ConfigError, match=r"schools\.1\.staff_chat_id"):
        load_schools(broken)


def test_safeguarding_chats_load_and_name_where_cases_go(tmp_path: Path) -> None:
    text = (ROOT / "schools.example.yml").read_text()
    text = text.replace(
        "  phone: 01632 960 100\n", "  phone: 01632 960 100\n  safeguarding_chat_id: -1001000000099\n", 1
    )
    text = text.replace(
        "    staff_chat_id: -1001000000001\n",
        "    staff_chat_id: -1001000000001\n    safeguarding_chat_id: -1001000000011\n",
        1,
    )
    path = tmp_path / "schools.yml"
    path.write_text(text)
    schools = load_schools(path)
    oakfield, st_aidans = schools.get("oakfield"), schools.get("st-aidans")
    assert oakfield is not None
    assert st_aidans is not None
    assert (oakfield.case_chat_id(urgent=True), oakfield.case_chat_id(urgent=False)) == (
        -1001000000011,
        -1001000000001,
    )
    assert st_aidans.case_chat_id(urgent=True) == st_aidans.staff_chat_id
    assert schools.fallback_chat_id == -1001000000099
    named = schools.named(-1001000000099)
    assert named is not None
    assert named.where == "trust safeguarding_chat_id"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  phone: 01632 960 100\n",
            "  phone: 01632 960 100\n  safeguarding_chat_id: -1001000000002\n",
            r"schools: trust\.safeguarding_chat_id -1001000000002 is also a chat of school st-aidans",
        ),
        (
            "    staff_chat_id: -1001000000003\n",
            "    staff_chat_id: -1001000000003\n    safeguarding_chat_id: 1234\n",
            r"schools\.2\.safeguarding_chat_id: 1234 is not a group chat id",
        ),
    ],
)
def test_bad_safeguarding_chats_are_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "schools.yml"
    path.write_text((ROOT / "schools.example.yml").read_text().replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        load_schools(path)


def test_an_invalid_yaml_schools_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "schools.yml"
    broken.write_text("trust: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schools(broken)


def test_token_shape_is_checked_and_the_token_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token-secret-value")
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as caught:
        load_settings()
    assert "secret-value" not in str(caught.value)


def test_a_blank_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "  ")
    assert load_settings().telegram_bot_token is None


def test_urls_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BASE_URL", "ftp://example.org/bot")
    with pytest.raises(ConfigError, match="TELEGRAM_BASE_URL"):
        load_settings()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABC-def_ghi")
    monkeypatch.setenv("MESSAGE_RETENTION_HOURS", "48")
    settings = load_settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123456:ABC-def_ghi"
    assert "ABC-def" not in repr(settings)
    assert settings.message_retention_hours == 48


def test_the_trust_needs_a_valid_dpo_email(tmp_path: Path) -> None:
    example = (ROOT / "schools.example.yml").read_text()
    line = "  dpo_email: dpo@embrace-mat.example.org.uk\n"
    assert line in example
    broken = tmp_path / "schools.yml"
    broken.write_text(example.replace(line, ""))
    with pytest.raises(ConfigError, match=r"^SCHOOLS_FILE: .*: trust\.dpo_email: field required$"):
        load_schools(broken)
    broken.write_text(example.replace(line, "  dpo_email: the DPO\n"))
    with pytest.raises(ConfigError, match=r"trust\.dpo_email"):
        load_schools(broken)


def test_the_lawful_basis_is_configurable_with_a_default(tmp_path: Path) -> None:
    assert load_schools(ROOT / "schools.example.yml").trust.lawful_basis == DEFAULT_LAWFUL_BASIS
    chosen = tmp_path / "schools.yml"
    example = (ROOT / "schools.example.yml").read_text()
    chosen.write_text(example.replace("  # lawful_basis:", "  lawful_basis: legitimate interests\n  #", 1))
    assert load_schools(chosen).trust.lawful_basis == "legitimate interests"


def test_a_webhook_without_a_secret_stops_the_bot_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each process would draw its own random secret and refuse the updates registered by another."""
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/telegram")
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value) == (
        "Invalid setting WEBHOOK_SECRET: is needed with WEBHOOK_URL (the same value for every bot process)"
    )
    monkeypatch.setenv("WEBHOOK_SECRET", "a-shared-secret_1-" + "x" * 22)
    assert load_settings(_env_file=None).webhook_secret is not None
    monkeypatch.setenv("WEBHOOK_SECRET", "not allowed: spaces")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(_env_file=None)


def test_a_short_webhook_secret_is_refused_without_printing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is all that tells Telegram's updates from anyone's POST to the webhook: a short one can
    be guessed."""
    assert MIN_SECRET_CHARS == 32
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/telegram")
    for short in ("Q7", "Sh0rt-but-valid_chars-31-chars-"[: MIN_SECRET_CHARS - 1]):
        monkeypatch.setenv("WEBHOOK_SECRET", short)
        with pytest.raises(ConfigError) as refused:
            load_settings(_env_file=None)
        message = str(refused.value)
        assert message.startswith("Invalid setting WEBHOOK_SECRET: is too short: at least 32 characters")
        assert "\n" not in message
        assert short not in message
    monkeypatch.setenv("WEBHOOK_SECRET", "k" * MIN_SECRET_CHARS)
    assert load_settings(_env_file=None).webhook_secret is not None


def test_the_webhook_listens_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot sits behind the HTTPS reverse proxy: plain HTTP must not face the network by default."""
    monkeypatch.delenv("WEBHOOK_LISTEN", raising=False)
    assert load_settings(_env_file=None).webhook_listen == "127.0.0.1"
    monkeypatch.setenv("WEBHOOK_LISTEN", "10.0.0.5")
    assert load_settings(_env_file=None).webhook_listen == "10.0.0.5"


def test_an_empty_staff_list_is_refused_with_one_line_naming_the_chat(tmp_path: Path) -> None:
    text = (ROOT / "schools.example.yml").read_text()
    path = tmp_path / "schools.yml"
    path.write_text(text.replace("    staff_user_ids: [100000004]\n", "    staff_user_ids: []\n", 1))
    with pytest.raises(ConfigError) as refused:
        load_schools(path)
    message = str(refused.value)
    assert "\n" not in message
    assert "schools.2.staff_user_ids: is empty for school riverside (staff_chat_id -1001000000003)" in message
    assert "allow_all_members: true" in message

    path.write_text(text.replace("    staff_user_ids: [100000004]\n", "", 1))
    with pytest.raises(ConfigError, match=r"school riverside \(staff_chat_id -1001000000003\)"):
        load_schools(path)


def test_the_trusts_chat_needs_its_own_staff_list(tmp_path: Path) -> None:
    text = (ROOT / "schools.example.yml").read_text().replace("  staff_user_ids: [100000099]\n", "", 1)
    path = tmp_path / "schools.yml"
    path.write_text(text)
    assert load_schools(path).trust.staff_user_ids == []  # no trust chat: nothing to name
    path.write_text(
        text.replace("  # safeguarding_chat_id: -1001000000099\n", "  safeguarding_chat_id: -1001000000099\n")
    )
    with pytest.raises(
        ConfigError,
        match=r"trust\.staff_user_ids: is empty for the trust \(safeguarding_chat_id -1001000000099\)",
    ):
        load_schools(path)


def test_allow_all_members_is_an_explicit_choice_logged_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (ROOT / "schools.example.yml").read_text()
    path = tmp_path / "schools.yml"
    path.write_text(
        text.replace(
            "    staff_user_ids: [100000004]\n", "    staff_user_ids: []\n    allow_all_members: true\n", 1
        )
    )
    with caplog.at_level("WARNING", logger="bot.schools"):
        schools = load_schools(path)
    riverside = schools.get("riverside")
    assert riverside is not None
    assert riverside.allow_all_members
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "Chat -1001000000003 (school riverside staff_chat_id): allow_all_members is set, so every member "
        "of the chat may see and act on cases there"
    ]


def test_health_is_off_by_default_and_listens_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """/healthz and /metrics are served only when asked for, and then on this machine only by default."""
    monkeypatch.delenv("HEALTH_PORT", raising=False)
    monkeypatch.delenv("HEALTH_LISTEN", raising=False)
    settings = load_settings(_env_file=None)
    assert (settings.health_port, settings.health_listen) == (None, "127.0.0.1")
    monkeypatch.setenv("HEALTH_PORT", "  ")
    assert load_settings(_env_file=None).health_port is None
    monkeypatch.setenv("HEALTH_PORT", "9464")
    assert load_settings(_env_file=None).health_port == 9464
    monkeypatch.setenv("HEALTH_PORT", "70000")
    with pytest.raises(ConfigError, match="HEALTH_PORT"):
        load_settings(_env_file=None)
