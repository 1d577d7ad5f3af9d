"""What the simulated parents do: each starts the bot, chooses their school, asks questions (typed and by
button) and goes through one handoff flow to the school's staff, as a real parent would."""

from __future__ import annotations

from dataclasses import dataclass

from bot.schools import Schools


@dataclass(frozen=True)
class Step:
    """A parent's action: `say` types `text`; `press` presses the button titled `text` under the bot's
    previous answer."""

    kind: str
    text: str


def say(text: str) -> Step:
    return Step("say", text)


def press(title: str) -> Step:
    return Step("press", title)


@dataclass(frozen=True)
class Script:
    name: str
    steps: tuple[Step, ...]

    def as_text_only(self) -> Script:
        """The same number of messages, buttons typed instead of pressed (for the echo bot, which has no
        buttons)."""
        return Script(self.name, tuple(say(step.text) for step in self.steps))


FLOWS: dict[str, tuple[Step, ...]] = {
    "complaint": (
        say("can i post pictures of the school play online"),
        say("/privacy"),
        say("can i leave a bad review of the school on facebook"),
        press("How do I complain?"),
        press("Yes, pass it on"),
        press("Something else"),  # not about the head teacher
        say("She was excluded for two days without anyone calling me first."),
        press("No, it's not urgent"),  # the safeguarding gate asks about this one
        say("Sam Patel, Ava, Year 3"),  # who staff should ask for
        press("Reply in this chat"),
        press("Yes, send it"),
    ),
    "cyberbullying": (
        say("what does the code of conduct cover"),
        say("can I post about a teacher in the class whatsapp group"),
        say("kids in his class keep sending my son horrible messages on whatsapp"),  # description, where
        press("No"),
        say("three boys in year 5"),
        press("No, it's not urgent"),  # the gate asks about this one too
        say("since half term"),
        press("Done"),
        press("Skip"),  # the names
        press("Reply in this chat"),
        press("Yes, send it"),
    ),
    "breach_report": (
        say("hello"),
        say("what happens if I break the code"),
        say("another parent keeps posting abuse about our head teacher on facebook"),
        press("Yes, pass it on"),  # the message named Facebook and described the post: the link is next
        say("https://facebook.example/groups/year3/posts/1"),
        say("Jo Brown, Leo, Year 3"),
        press("Reply in this chat"),
        press("Yes, send it"),
    ),
    "talk_to_staff": (
        say("/help"),
        say("can I follow my son's teacher on tiktok"),
        say("Can I speak to someone at school"),
        press("Yes, pass it on"),
        say("Who should I talk to about the Year 6 residential?"),
        press("Reply in this chat"),
        press("Yes, send it"),
        say("thanks, that's all"),
    ),
    "urgent": (
        say("who does the code of conduct apply to"),
        say("a man on roblox is asking my 8 year old to send him photos and meet up"),
        press("Yes, alert them now"),
        say("He has been messaging her for a week and asked where she lives"),
        press("Reply in this chat"),
        press("Yes, send it"),
        say("Pat Smith, Ella, reception"),  # asked only once the alert is filed
        say("thank you"),
    ),
}


def scripts_for(schools: Schools) -> list[Script]:
    """One script per flow, each for a different school, all starting with /start and the school button."""
    scripts = []
    for number, (name, steps) in enumerate(FLOWS.items()):
        school = schools.schools[number % len(schools.schools)]
        scripts.append(Script(name, (say("/start"), press(school.name), *steps)))
    return scripts
