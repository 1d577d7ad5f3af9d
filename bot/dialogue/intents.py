"""The intent names of SPEC §3 and how the engine groups them."""

from __future__ import annotations

CODE_QUESTIONS = frozenset(
    {
        "code_overview",
        "code_scope",
        "post_about_staff",
        "complain_online",
        "share_misinformation",
        "contact_staff_social",
        "group_chats",
        "breach_consequences",
        "removal_request",
        "legal_basis",
        "school_view_messages",
        "online_safety_children",
        "cyberbullying_advice",
    }
)
"""Questions about the code: answered from domain.yml, citing the code's section."""

POSTING_QUESTIONS = frozenset(
    {
        "code_scope",
        "post_about_staff",
        "complain_online",
        "share_misinformation",
        "contact_staff_social",
        "group_chats",
        "removal_request",
    }
)
"""Code questions about what a parent posts or sends: a platform they name gets the line saying the
code covers all forms of social media, that one included. Not the others: the code covers what parents
post, not how schools read messages, what laws say, or how children behave online."""

HANDOFF_INTENTS = frozenset(
    {"how_to_complain", "report_cyberbullying", "report_breach", "human_handoff", "urgent_safeguarding"}
)
"""Intents that can end with a concern passed to the school's staff (SPEC §4.3-§4.6)."""

CHAT_INTENTS = frozenset(
    {"greet", "goodbye", "thank", "affirm", "deny", "bot_help", "privacy_info", "forget_me"}
)

OUT_OF_SCOPE = "out_of_scope"
URGENT = "urgent_safeguarding"

ALL_INTENTS = CODE_QUESTIONS | HANDOFF_INTENTS | CHAT_INTENTS | {OUT_OF_SCOPE}

POLICY_INTENTS = CODE_QUESTIONS | HANDOFF_INTENTS
"""An out-of-scope message classified as one of these gets answered as if it were a policy question."""
