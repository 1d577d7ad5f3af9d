"""The privacy notice's facts (controller, DPO, lawful basis, retention periods) from configuration, as
template variables every answer text in domain.yml may use: /privacy, /start's one-line notice, /forget.

They are constants of a running bot, so the ResponseBook fills them in for every response (the engine's
per-turn variables, such as the school, come on top)."""

from __future__ import annotations

from bot.config import Settings
from bot.schools import Trust

ICO_COMPLAINTS_URL = "https://ico.org.uk/make-a-complaint/"
"""The Information Commissioner's Office, where a parent may complain about how their data is handled."""


def notice_variables(settings: Settings, trust: Trust) -> dict[str, str]:
    return {
        "trust_name": trust.name,
        "dpo_email": trust.dpo_email,
        "lawful_basis": trust.lawful_basis,
        "retention_hours": str(settings.message_retention_hours),
        "case_retention_days": str(settings.case_retention_days),
        "unresolved_case_retention_days": str(settings.unresolved_case_retention_days),
        "profile_retention_days": str(settings.profile_retention_days),
        "audit_retention_days": str(settings.audit_retention_days),
        "log_retention_days": str(settings.log_retention_days),
        "ico_url": ICO_COMPLAINTS_URL,
    }
