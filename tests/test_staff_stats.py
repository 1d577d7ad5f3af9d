"""The /stats chart (bot/staff/stats.py) draws only words from domain.yml: change them there and the chart
follows. The text message and the chart are checked end to end in test_staff_e2e.py."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml
from matplotlib.text import Text

from bot.dialogue.responses import ResponseBook
from bot.domain import CaseKind, CaseStatus, Priority
from bot.nlu.model import ProjectPaths
from bot.schools import Schools
from bot.staff.cards import StaffTexts, format_age
from bot.staff.stats import chart_figure, chart_texts, figures, parse_period
from bot.storage.cases import CaseTimes

MARKED = ("utter_staff_stats", "utter_kind_")


def marked_texts(paths: ProjectPaths, schools: Schools) -> StaffTexts:
    """The staff texts with every /stats and case-kind response prefixed by its name."""
    responses: dict[str, list[dict[str, Any]]] = yaml.safe_load(paths.domain.read_text())["responses"]
    for name, variations in responses.items():
        if name.startswith(MARKED):
            variations[0]["text"] = f"<{name}> {variations[0]['text']}"
    return StaffTexts(ResponseBook(responses), schools)


def test_every_word_on_the_stats_chart_comes_from_domain_yml(paths: ProjectPaths, schools: Schools) -> None:
    now = datetime.now(timezone.utc)
    claimed = now - timedelta(minutes=90)
    opened = [
        CaseTimes("oakfield", CaseKind.CYBERBULLYING, Priority.URGENT, CaseStatus.OPEN, now, None, None),
        CaseTimes("riverside", CaseKind.COMPLAINT, Priority.NORMAL, CaseStatus.OPEN, claimed, now, None),
    ]
    period = parse_period([], now)
    assert period is not None
    report = figures(period, opened, opened)
    figure = chart_figure(report, chart_texts(marked_texts(paths, schools), report, "SCOPE"))

    drawn = [t.get_text() for t in figure.findobj(Text) if re.search("[A-Za-z]", t.get_text())]
    from_elsewhere = {"SCOPE", format_age(now - claimed), *(school.name for school in schools.schools)}
    assert [t for t in drawn if "<utter_" not in t and t not in from_elsewhere] == []
    for name in ("utter_staff_stats_chart_title", "utter_staff_stats_chart_axis", "utter_staff_stats_period"):
        assert any(f"<{name}>" in t for t in drawn), name
