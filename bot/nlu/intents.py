"""The model's intent names, and the groups the dialogue answers them by.

The NLU layer owns them: the model is trained on exactly these names (domain.yml lists the same set,
tests/test_domain_contract.py checks it), the evaluation reports by them, and the dialogue imports them
from here. The NLU layer never imports the dialogue."""

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
"""Intents that can end with a concern passed to the school's staff: a complaint, a bullying report, a
breach of the code, a question for a person, and danger."""

CHAT_INTENTS = frozenset(
    {"greet", "goodbye", "thank", "affirm", "deny", "bot_help", "privacy_info", "forget_me"}
)

FALLBACK_INTENT = "nlu_fallback"
"""What Rasa's FallbackClassifier names a message it is not sure enough of (and what an unparsed message
is taken for)."""
OUT_OF_SCOPE_INTENT = "out_of_scope"
URGENT_INTENT = "urgent_safeguarding"

ALL_INTENTS = CODE_QUESTIONS | HANDOFF_INTENTS | CHAT_INTENTS | {OUT_OF_SCOPE_INTENT}

POLICY_INTENTS = CODE_QUESTIONS | HANDOFF_INTENTS
"""An out-of-scope message classified as one of these gets answered as if it were a policy question."""
