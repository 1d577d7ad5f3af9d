"""Questions about social media that the code of conduct does not answer.

The code says what parents may post about the trust, its schools and its staff; it says nothing about
photos or videos of school events, or about a parent's own accounts and privacy settings. The model reads
such questions as out of scope, but "Sorry, that's not something I can help with" would be wrong: the
question is about social media, and the right answer says the code is silent, names who decides (the
school's own photo and privacy rules) and gives the school's contact.
"""

from __future__ import annotations

import re

from bot.dialogue.messages import Reply
from bot.dialogue.turns import Turn
from bot.dialogue.vocabulary import CHILD as CHILD_WORDS
from bot.dialogue.voice import Voice
from bot.nlu.client import NluResult
from bot.nlu.intents import CODE_QUESTIONS, FALLBACK_INTENT, OUT_OF_SCOPE_INTENT

SOCIAL_MEDIA = re.compile(
    r"\b(social\s*media|post(s|ed|ing)?|upload\w*|photo\w*|pics?|pictures?|videos?|vids?|"
    r"film(s|ed|ing)?|live\s*stream\w*|selfies?|privacy|followers?|profile|tag(ged|ging))\b",
    re.IGNORECASE,
)
"""Words of posting, pictures and privacy (platform names come as the model's entity). Not "online" or
"account": parents pay for dinners online into an account."""


EVENT = re.compile(
    r"\b(nativity|sports?\s*day|school\s*(play|trip|concert|show|disco|fair|fete|performance|assembly|"
    r"production)|christmas\s*(play|concert|show|fair)|carol\s*service|harvest\s*festival|leavers?|prom|"
    r"summer\s*fair|christmas\s*fair|fete|assembly|concert|school\s*photos?|class\s*photos?)\b",
    re.IGNORECASE,
)
PICTURES = re.compile(
    r"\b(photo\w*|pics?|pictures?|videos?|vids?|film(s|ed|ing)?|footage|clips?|record(ed|ing)?)\b", re.I
)
STAFF = re.compile(r"\b(teachers?|staff|head|headteacher|miss|mrs|mr|ms|sir|ta|tas|senco|governors?)\b", re.I)
"""Words naming staff: a video of a teacher is a question of posting about staff, which the code covers."""


def pictures_of_a_school_event(text: str) -> bool:
    """Photos or videos of a school event (the nativity, sports day) with no member of staff named:
    the code says nothing about them, whatever the model's nearest policy answer."""
    return bool(EVENT.search(text) and PICTURES.search(text) and not STAFF.search(text))


OWN_ACCOUNT = re.compile(
    r"\b(my|our)\s+(own\s+)?(\w+\s+)?(account|profile|page|settings|facebook|instagram|insta|tiktok|"
    r"snapchat|twitter)\b",
    re.IGNORECASE,
)
PRIVACY = re.compile(r"\b(private|privacy|lock(ed)?\s+down|hide|settings)\b", re.IGNORECASE)
HOW = re.compile(r"\b(how|should|what|which)\b", re.IGNORECASE)
CHILD = re.compile(rf"\b({CHILD_WORDS}|year\s*\d)\b", re.IGNORECASE)
"""A child, or a class ("my year 6"): the account is the child's, not the parent's own."""


def own_privacy(text: str) -> bool:
    """How a parent should set their own account's privacy, not a child's: the code says nothing about
    it. Only the how-to question: "my own page" in a question about posting is the code's business."""
    return bool(
        HOW.search(text) and PRIVACY.search(text) and OWN_ACCOUNT.search(text) and not CHILD.search(text)
    )


def about_social_media(text: str, platform: str | None) -> bool:
    """Whether an out-of-scope message is about social media: it names a platform or speaks of posting,
    photos, videos or accounts."""
    return platform is not None or SOCIAL_MEDIA.search(text) is not None


def code_is_silent(nlu: NluResult, text: str) -> bool:
    """A social-media question the code does not answer, read as the model read it (misspellings
    corrected): out of scope but about social media, or a topic the code says nothing about, whatever
    the model's nearest policy answer."""
    read = nlu.respelled or text
    if nlu.intent == OUT_OF_SCOPE_INTENT and about_social_media(read, nlu.entity("platform")):
        return True
    silent_topic = pictures_of_a_school_event(read) or own_privacy(read)
    return silent_topic and nlu.intent in CODE_QUESTIONS | {OUT_OF_SCOPE_INTENT, FALLBACK_INTENT}


def not_in_code(voice: Voice, turn: Turn) -> Reply:
    """The code is silent: say so, name the school's own rules, give its contact. Not a fallback: the
    fallback streak starts again."""
    turn.state.fallback_streak = 0
    voice.remember_school(turn)
    return voice.with_school_choice(turn, "utter_not_in_code", voice.say(turn, "utter_not_in_code"))
