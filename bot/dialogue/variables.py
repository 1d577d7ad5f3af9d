"""The per-turn template variables of the answers in domain.yml: the trust's and the school's names,
links and contacts, the platform a message names, the retention period.

The ResponseBook (bot/dialogue/responses.py) fills them in; the privacy notice's constants
(bot/dialogue/notice.py) come underneath them for every response.
"""

from __future__ import annotations

from bot.dialogue.responses import ResponseBook
from bot.nlu.client import NluResult
from bot.schools import School, Schools

PLATFORM_NAMES = {
    "facebook": "Facebook",
    "whatsapp": "WhatsApp",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "snapchat": "Snapchat",
    "twitter": "X (Twitter)",
    "youtube": "YouTube",
    "messenger": "Messenger",
    "telegram": "Telegram",
    "discord": "Discord",
    "reddit": "Reddit",
    "mumsnet": "Mumsnet",
    "nextdoor": "Nextdoor",
    "google_reviews": "Google reviews",
    "linkedin": "LinkedIn",
    "threads": "Threads",
    "roblox": "Roblox",
}
"""The model's platform entity values in the form parents write them."""

CONTACT_FIELDS = frozenset({"school_phone", "school_email", "complaints_url"})
"""Template variables that are the trust's when no school is chosen."""


class TemplateVariables:
    """The variables of the answers for a parent of a school (or of none chosen yet)."""

    def __init__(self, responses: ResponseBook, schools: Schools, *, retention_hours: int = 24) -> None:
        self._responses = responses
        self._schools = schools
        self._retention_hours = retention_hours

    def of(self, school: School | None, nlu: NluResult | None = None) -> dict[str, str]:
        """The template variables of the answers for a parent of `school` (None: not chosen yet), and
        the platform the model found in their message."""
        trust = self._schools.trust
        platform = nlu.entity("platform") if nlu else None
        return {
            "trust_name": trust.name,
            "code_url": trust.code_of_conduct_url,
            "school_name": school.name
            if school
            else self._responses.render("utter_label_unknown_school", {}).text,
            "complaints_url": school.complaints_policy_url if school else trust.complaints_policy_url,
            "school_email": school.email if school else trust.email,
            "school_phone": school.phone if school else trust.phone,
            "retention_hours": str(self._retention_hours),
            "platform": PLATFORM_NAMES.get(platform or "", "any platform"),
            "out_of_hours_phone": (school.out_of_hours_phone if school else None)
            or trust.out_of_hours_phone
            or "",
        }

    def gives_contacts(self, response: str) -> bool:
        """The response gives the school's contacts (the trust's, when no school is chosen)."""
        return bool(self._responses.template_fields(response) & CONTACT_FIELDS)
