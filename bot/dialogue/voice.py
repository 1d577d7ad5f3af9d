"""How the engine says a response in a turn: with the variables of the school the turn is about, the
trust's contacts (and the school buttons) while no school is chosen, and a question's answer with the
notes it takes.
"""

from __future__ import annotations

from bot.dialogue import flows
from bot.dialogue.messages import Button, Reply
from bot.dialogue.responses import ResponseBook
from bot.dialogue.turns import Turn
from bot.dialogue.variables import PLATFORM_NAMES, TemplateVariables
from bot.nlu.intents import POSTING_QUESTIONS
from bot.schools import School, Schools


class Voice:
    def __init__(self, responses: ResponseBook, schools: Schools, variables: TemplateVariables) -> None:
        self._responses = responses
        self.schools = schools
        self._variables = variables

    def say(self, turn: Turn, response: str, school_id: str | None = None, **extra: str) -> Reply:
        """A response with the variables of `school_id`, else of the school the message names, the
        flow's or the parent's."""
        school = self.schools.get(school_id) or self.school_of(turn)
        variables = self._variables.of(school, turn.nlu)
        if school is None and self._variables.gives_contacts(response):
            variables["school_name"] = self.schools.trust.name  # the contacts given are the trust's
        return self._responses.render(response, {**variables, **extra})

    def school_of(self, turn: Turn) -> School | None:
        """The school the message names, else the flow's, else the parent's."""
        mentioned = turn.nlu.entity("school") if turn.nlu else None
        named = self.schools.match(mentioned) if mentioned else None
        flow_school = turn.state.flow.school_id if turn.state.flow else None
        return named or self.schools.get(flow_school or turn.state.school_id)

    def named_school(self, turn: Turn) -> School | None:
        """The school a typed message names, if any."""
        mentioned = turn.nlu.entity("school") if turn.nlu and turn.typed else None
        return self.schools.match(mentioned) if mentioned else None

    def remember_school(self, turn: Turn) -> None:
        """A school the message names becomes the parent's, if they have not chosen one."""
        mentioned = turn.nlu.entity("school") if turn.nlu else None
        school = self.schools.match(mentioned) if mentioned else None
        if school is not None and turn.state.school_id is None:
            turn.state.school_id = school.id

    def school_buttons(self) -> tuple[Button, ...]:
        return flows.school_buttons(self.schools)

    def school_question(self, turn: Turn) -> Reply:
        """ "Which school?" with a button for each."""
        return Reply(self.say(turn, "utter_choose_school").text, self.school_buttons())

    def topic_answer(self, intent: str, turn: Turn) -> Reply:
        """The answer to a question: a code question about posting that names a platform adds the line
        saying the code covers that platform too."""
        answer = self.say(turn, f"utter_{intent}")
        platform = turn.nlu.entity("platform") if turn.nlu else None
        if intent in POSTING_QUESTIONS and platform in PLATFORM_NAMES:
            note = self.say(turn, "utter_platform_note").text
            answer = Reply(f"{answer.text}\n\n{note}", answer.buttons)
        return self.with_school_choice(turn, f"utter_{intent}", answer)

    def with_school_choice(self, turn: Turn, response: str, answer: Reply) -> Reply:
        """An answer giving contact details before the parent chose a school gives the trust's, says so,
        and offers the school buttons, so the parent can get their own school's instead."""
        if self.school_of(turn) is not None or not self._variables.gives_contacts(response):
            return answer
        note = self.say(turn, "utter_trust_contact_note").text
        return Reply(f"{answer.text}\n\n{note}", self.school_buttons())
