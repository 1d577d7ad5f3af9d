"""Settings from the environment (and `.env`), read and checked once, at start-up, by the command line;
nothing here runs at import time. The trust's schools file is read by bot/schools.py."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseSettings, Field, SecretStr, ValidationError, validator


class ConfigError(Exception):
    """A missing or invalid setting: the message names it, in one line."""


MIN_SECRET_CHARS = 32
"""WEBHOOK_SECRET's least length: it is all that tells Telegram's updates from anyone else's POST to the
webhook, so it must not be guessable (32 characters of Telegram's 64-letter alphabet are 192 bits)."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment (or `.env`), read and checked once at start, so
    that a missing or invalid setting stops the bot with one line naming it."""

    telegram_bot_token: SecretStr | None = None
    database_url: str = "sqlite:///parentbot.db"
    rasa_model: Path | None = None
    rasa_url: str | None = None
    rasa_token: SecretStr | None = None
    """Rasa's `--auth-token`, sent with every parse to RASA_URL (required unless RASA_URL is loopback)."""
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    """The bot sits behind an HTTPS reverse proxy on the same machine, which alone faces the network."""
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    health_port: int | None = Field(None, ge=1, le=65535)
    """Where the bot serves `GET /healthz` and `GET /metrics` (bot/telegram/health.py); unset: not served."""
    health_listen: str = "127.0.0.1"
    """The health check's address: on this machine only, unless a monitor elsewhere must reach it."""
    telegram_base_url: str | None = None
    schools_file: Path = Path("schools.yml")
    message_retention_hours: int = Field(24, ge=1)
    case_retention_days: int = Field(365, ge=1)
    flow_timeout_minutes: int = Field(120, ge=1)
    relay_timeout_hours: int = Field(72, ge=1)
    flood_burst: int = Field(10, ge=1)
    flood_per_minute: float = Field(20.0, gt=0)
    unresolved_case_retention_days: int = Field(365, ge=1)
    """A case never resolved is deleted this long after anyone last wrote on it (or claimed it)."""
    profile_retention_days: int = Field(365, ge=1)
    """A parent's profile (Telegram id, chosen school) is deleted this long after they last wrote."""
    audit_retention_days: int = Field(730, ge=1)
    """Audit log rows (who viewed or acted on which case) are deleted this old."""
    log_retention_days: int = Field(30, ge=1)
    """How long the operator's log rotation keeps the bot's logs (journald, logrotate): the bot does not
    enforce it, the privacy notice states it, so set it to what the rotation does."""
    log_pseudonym_key: SecretStr | None = None
    """The key of the pseudonyms that stand for Telegram ids in logs (bot/logs.py); random per process
    when unset, so pseudonyms then change on every restart."""
    project_dir: Path = Path(".")

    class Config:
        env_file = ".env"
        env_file_encoding = "utf-8"

    @validator(
        "telegram_bot_token",
        "rasa_url",
        "rasa_token",
        "webhook_url",
        "telegram_base_url",
        "webhook_secret",
        "log_pseudonym_key",
        "health_port",
        pre=True,
    )
    def _blank_is_unset(cls, value: object) -> object:  # noqa: N805 (pydantic validator)
        return None if isinstance(value, str) and not value.strip() else value

    @validator("telegram_bot_token")
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:  # noqa: N805
        if value is not None and not re.fullmatch(r"\d+:[\w-]+", value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @validator("webhook_secret", always=True)
    def _webhook_needs_a_secret(cls, value: SecretStr | None, values: dict[str, object]) -> SecretStr | None:  # noqa: N805
        """Each process would otherwise draw its own random secret, and the last one to start would
        register it with Telegram: the other processes behind the same URL would refuse every update."""
        if value is None and values.get("webhook_url"):
            raise ValueError("is needed with WEBHOOK_URL (the same value for every bot process)")
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("may hold only letters, digits, _ and - (1-256 characters, Telegram's rule)")
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"is too short: at least {MIN_SECRET_CHARS} characters are needed (e.g. the output of "
                "`openssl rand -hex 24`)"
            )
        return value

    @validator("rasa_url", "webhook_url", "telegram_base_url")
    def _http_url(cls, value: str | None) -> str | None:  # noqa: N805
        if value is not None and not re.match(r"https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @validator("rasa_token", always=True)
    def _rasa_token(cls, value: SecretStr | None, values: dict[str, object]) -> SecretStr | None:  # noqa: N805
        """Without a token, anyone who reaches the Rasa server reads what parents write (its /model/parse)
        and can replace the model (its /model endpoints): only a server on this machine may go without."""
        url = values.get("rasa_url")
        if value is None and isinstance(url, str) and not is_loopback_url(url):
            raise ValueError(
                "is needed when RASA_URL is not on this machine (start Rasa with --auth-token and set the "
                "same value here)"
            )
        return value


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine: localhost, 127.0.0.0/8 or ::1."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        setting = str(first["loc"][0]).upper()
        raise ConfigError(f"Invalid setting {setting}: {first['msg']}") from error
