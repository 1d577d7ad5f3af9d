"""The out-of-hours line of an urgent alert: outside the school's staffed hours the parent is told
plainly that staff may not see it until the next working day, and whom to call meanwhile."""

from __future__ import annotations

from bot.dialogue.messages import Reply
from bot.dialogue.turns import Turn
from bot.dialogue.voice import Voice


def out_of_hours(voice: Voice, turn: Turn, school_id: str | None = None) -> list[Reply]:
    """The line, outside the staffed hours of `school_id` (else of the school the turn is about; by the
    first school's hours when none is chosen yet, named only as "your child's school"); nothing within
    them."""
    schools = voice.schools
    known = schools.get(school_id) or voice.school_of(turn)
    hours = (known or schools.schools[0]).staffed_hours
    if hours.staffed_at(turn.now):
        return []
    phone = (known.out_of_hours_phone if known else None) or schools.trust.out_of_hours_phone
    named = known.id if known else None  # unknown: "your child's school", never another school's name
    if phone:
        return [voice.say(turn, "utter_out_of_hours", named, out_of_hours_phone=phone)]
    return [voice.say(turn, "utter_out_of_hours_no_number", named)]
