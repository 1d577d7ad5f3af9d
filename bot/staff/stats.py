"""/stats: the figures a safeguarding lead reports to governors, as text and as a chart (PNG).

Cases opened in a period by kind and school, the median time to claim and to resolve them, and the cases
open (and urgent) now. Only counts and durations: no case text and nothing about a parent. The period is
the last 30 days by default, ``/stats 7`` for the last 7 days, ``/stats 2026-09-01 2026-11-30`` for dates
(inclusive, school time). The chart is drawn with matplotlib's Agg backend (no display needed), in a
worker thread so the event loop keeps answering.
"""

from __future__ import annotations

import io
import statistics
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from bot.domain import CaseKind, Priority
from bot.staff.cards import StaffTexts, as_utc, format_age, school_time_zone
from bot.storage.cases import CaseTimes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DEFAULT_DAYS = 30
MAX_DAYS = 3660
KIND_ORDER = tuple(CaseKind)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    """Exclusive."""

    def label(self, texts: StaffTexts) -> str:
        last = (self.end - timedelta(microseconds=1)).astimezone(school_time_zone())
        first = self.start.astimezone(school_time_zone())
        return texts.say("utter_staff_stats_period", first=f"{first:%d %b %Y}", last=f"{last:%d %b %Y}")


def parse_period(args: Sequence[str], now: datetime) -> Period | None:
    """The period /stats asks for; None when the arguments are not one of the accepted forms."""
    if not args:
        return Period(now - timedelta(days=DEFAULT_DAYS), now)
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= MAX_DAYS:
        return Period(now - timedelta(days=int(args[0])), now)
    if len(args) == 2:
        try:
            first, last = date.fromisoformat(args[0]), date.fromisoformat(args[1])
        except ValueError:
            return None
        if first <= last:
            zone = school_time_zone()
            start = datetime.combine(first, time(), zone)
            return Period(start, datetime.combine(last + timedelta(days=1), time(), zone))
    return None


@dataclass(frozen=True)
class CaseFigures:
    period: Period
    by_kind_and_school: Counter[tuple[CaseKind, str]]
    to_claim: timedelta | None
    to_resolve: timedelta | None
    open_now: int
    urgent_now: int

    @property
    def total(self) -> int:
        return sum(self.by_kind_and_school.values())

    def by_kind(self) -> Counter[CaseKind]:
        counts: Counter[CaseKind] = Counter()
        for (kind, _), number in self.by_kind_and_school.items():
            counts[kind] += number
        return counts

    def by_school(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (_, school), number in self.by_kind_and_school.items():
            counts[school] += number
        return counts


def figures(period: Period, opened: Sequence[CaseTimes], open_now: Sequence[CaseTimes]) -> CaseFigures:
    claims = [as_utc(c.claimed_at) - as_utc(c.created_at) for c in opened if c.claimed_at is not None]
    resolves = [as_utc(c.resolved_at) - as_utc(c.created_at) for c in opened if c.resolved_at is not None]
    return CaseFigures(
        period=period,
        by_kind_and_school=Counter((c.kind, c.school_id) for c in opened),
        to_claim=_median(claims),
        to_resolve=_median(resolves),
        open_now=len(open_now),
        urgent_now=sum(1 for c in open_now if c.priority is Priority.URGENT),
    )


def _median(durations: Sequence[timedelta]) -> timedelta | None:
    if not durations:
        return None
    return timedelta(seconds=statistics.median(d.total_seconds() for d in durations))


def duration(value: timedelta | None, unknown: str) -> str:
    return unknown if value is None else format_age(value)


@dataclass(frozen=True)
class ChartTexts:
    """Every word the chart shows, from domain.yml (utter_staff_stats_chart_* and the staff texts)."""

    heading: str
    axis: str
    kinds: dict[CaseKind, str]
    schools: dict[str, str]
    side: tuple[tuple[str, str], ...]
    """(label, value) pairs beside the bars."""


def chart_png(figures: CaseFigures, texts: ChartTexts) -> bytes:
    buffer = io.BytesIO()
    chart_figure(figures, texts).savefig(buffer, format="png")
    return buffer.getvalue()


def chart_figure(figures: CaseFigures, texts: ChartTexts) -> Figure:
    """Cases opened by kind, each bar split by school, with the times and today's open cases beside."""
    with warnings.catch_warnings():  # matplotlib's font parser uses pyparsing's old names
        warnings.simplefilter("ignore")
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.8), dpi=120, layout="constrained")
    bars, side = figure.subplots(1, 2, gridspec_kw={"width_ratios": (3, 1.2)})
    kinds = [kind for kind in KIND_ORDER if figures.by_kind().get(kind)] or list(KIND_ORDER)
    labels = [texts.kinds.get(kind, kind.value) for kind in kinds]
    left = [0] * len(kinds)
    for school_id in sorted(figures.by_school()):
        counts = [figures.by_kind_and_school.get((kind, school_id), 0) for kind in kinds]
        bars.barh(labels, counts, left=left, label=texts.schools.get(school_id, school_id))
        left = [a + b for a, b in zip(left, counts, strict=True)]
    for row, total in enumerate(left):
        if total:
            bars.text(total, row, f" {total}", va="center", fontsize=10)
    bars.invert_yaxis()
    bars.set_xlabel(texts.axis)
    bars.set_title(texts.heading, loc="left", fontsize=11)
    bars.xaxis.get_major_locator().set_params(integer=True)
    bars.spines[["top", "right"]].set_visible(False)
    if figures.by_school():
        bars.legend(loc="best", fontsize=8, frameon=False)
    _side_panel(side, texts.side)
    return figure


def _side_panel(axes: Axes, lines: Sequence[tuple[str, str]]) -> None:
    axes.set_axis_off()
    for row, (label, value) in enumerate(lines):
        y = 0.92 - row * 0.24
        axes.text(0, y, label, fontsize=9, color="#555555", transform=axes.transAxes)
        axes.text(0, y - 0.1, value, fontsize=16, weight="bold", transform=axes.transAxes)


def stats_text(texts: StaffTexts, figures: CaseFigures, scope: str) -> str:
    """The figures as the /stats message (utter_staff_stats)."""
    none = texts.say("utter_staff_stats_none")
    unknown = texts.say("utter_staff_stats_not_known")
    by_kind = figures.by_kind().most_common()
    by_school = figures.by_school().most_common()
    return texts.say(
        "utter_staff_stats",
        scope=scope,
        period=figures.period.label(texts),
        total=str(figures.total),
        by_kind=", ".join(f"{texts.kind_label(kind)} {n}" for kind, n in by_kind) or none,
        by_school=", ".join(f"{texts.school_name(school)} {n}" for school, n in by_school) or none,
        to_claim=duration(figures.to_claim, unknown),
        to_resolve=duration(figures.to_resolve, unknown),
        open_now=str(figures.open_now),
        urgent_now=str(figures.urgent_now),
    )


def stats_chart(texts: StaffTexts, figures: CaseFigures, scope: str) -> bytes:
    """The figures as a PNG chart, labelled as the text is."""
    return chart_png(figures, chart_texts(texts, figures, scope))


def chart_texts(texts: StaffTexts, figures: CaseFigures, scope: str) -> ChartTexts:
    unknown = texts.say("utter_staff_stats_not_known")
    period, total = figures.period.label(texts), str(figures.total)
    return ChartTexts(
        heading=texts.say("utter_staff_stats_chart_title", scope=scope, period=period, total=total),
        axis=texts.say("utter_staff_stats_chart_axis"),
        kinds={kind: texts.kind_label(kind) for kind in CaseKind},
        schools={school: texts.school_name(school) for school in figures.by_school()},
        side=(
            (texts.say("utter_staff_stats_chart_to_claim"), duration(figures.to_claim, unknown)),
            (texts.say("utter_staff_stats_chart_to_resolve"), duration(figures.to_resolve, unknown)),
            (texts.say("utter_staff_stats_chart_open_now"), str(figures.open_now)),
            (texts.say("utter_staff_stats_chart_urgent_now"), str(figures.urgent_now)),
        ),
    )
