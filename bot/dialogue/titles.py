"""A button's payload as the parent saw it: the title it is shown under, never the intent or value in
it, for the transcripts staff read and the answers a flow keeps."""

from __future__ import annotations

from bot.dialogue import flows
from bot.dialogue.inputs import ParentInput
from bot.dialogue.responses import ResponseBook
from bot.nlu.intents import ALL_INTENTS
from bot.schools import Schools


class ButtonTitles:
    def __init__(self, responses: ResponseBook, schools: Schools) -> None:
        self._responses = responses
        self._titles = _titles_by_payload(responses, schools)

    def shown_as(self, message: ParentInput) -> str:
        """The title a payload is shown under (a plain "Yes" or "No" where one payload has several
        titles); typed text as it is."""
        if message.payload is None:
            return message.text
        known = self._titles.get(message.stripped)
        return known or self._responses.render("utter_label_button", {}).text


def _titles_by_payload(responses: ResponseBook, schools: Schools) -> dict[str, str]:
    """One title per payload, for a transcript that was not told which button was tapped."""
    plain = {
        "/affirm": responses.render("utter_label_yes", {}).text,
        "/deny": responses.render("utter_label_no", {}).text,
    }
    titles = {
        f"/{intent}": responses.render(f"utter_clarify_option_{intent}", {}).text
        for intent in ALL_INTENTS
        if f"utter_clarify_option_{intent}" in responses
    }
    for payload, shown in responses.button_titles().items():
        titles[payload] = plain.get(payload) or min(shown) if len(shown) > 1 else shown.pop()
    titles.update({button.payload: button.title for button in flows.school_buttons(schools)})
    return titles
