"""Figures of the safeguarding gate over labelled messages: `python -m bot.safeguarding.report [TSV ...]`.

A file has a header line and then `label<TAB>kind<TAB>text` lines: label `danger` or `calm`, kind one of
the DangerKind values (`calm` for calm lines). Without `--no-model` the trained model (models/, trained
first when the data changed) gives each message its urgent score, as the engine would.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.nlu.client import URGENT_INTENT
from bot.safeguarding import DangerKind
from bot.safeguarding.detector import DangerDetector, default_detector

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILES = (ROOT / "tests/data/safeguarding_dev.tsv", ROOT / "tests/data/safeguarding_messages.tsv")
THRESHOLDS = (0.15, 0.3, 0.5, 0.7, 0.9)


class LabelledFileError(ValueError):
    """A line that is not `danger|calm<TAB>kind<TAB>text`."""


@dataclass(frozen=True)
class Labelled:
    danger: bool
    kind: DangerKind | None
    text: str


def read_labelled(path: Path) -> list[Labelled]:
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3 or parts[0] not in {"danger", "calm"}:
            raise LabelledFileError(f"{path}:{number}: expected 'danger|calm<TAB>kind<TAB>text'")
        label, kind, text = parts
        rows.append(Labelled(label == "danger", DangerKind(kind) if label == "danger" else None, text))
    return rows


@dataclass
class Figures:
    danger: int
    calm: int
    recall_alone: dict[str, float]
    recall_with_model: dict[str, float] | None
    false_alarms_alone: float
    false_alarms_with_model: float | None
    kind_named: float
    """Share of danger messages whose expected kind is among the kinds the detector names."""
    kind_exact: float
    """Share of danger messages where the detector names exactly the expected kind."""
    sweep: list[tuple[float, float, float]] = field(default_factory=list)
    """(threshold, danger recall, calm false alarms) with the model at each threshold."""
    misses: list[Labelled] = field(default_factory=list)
    false_alarms: list[Labelled] = field(default_factory=list)
    wrong_kind: list[tuple[Labelled, set[DangerKind]]] = field(default_factory=list)


def measure(
    rows: Sequence[Labelled], scores: Sequence[float] | None = None, detector: DangerDetector | None = None
) -> Figures:
    """Recall per kind and false alarms, for the detector alone and with the model's scores if given."""
    detector = detector or default_detector()
    danger = [i for i, r in enumerate(rows) if r.danger]
    calm = [i for i, r in enumerate(rows) if not r.danger]
    alone = [detector.assess(r.text, None) for r in rows]
    found = [detector.kinds(r.text) for r in rows]
    with_model = None
    if scores is not None:
        with_model = [detector.assess(r.text, s) for r, s in zip(rows, scores, strict=True)]
    urgent_alone = [a.urgent for a in alone]
    figures = Figures(
        danger=len(danger),
        calm=len(calm),
        recall_alone=_recall(rows, danger, urgent_alone),
        recall_with_model=_recall(rows, danger, [a.urgent for a in with_model]) if with_model else None,
        false_alarms_alone=_share(calm, urgent_alone),
        false_alarms_with_model=None if with_model is None else _share(calm, [a.urgent for a in with_model]),
        kind_named=_share(danger, [r.kind in k for r, k in zip(rows, found, strict=True)]),
        kind_exact=_share(danger, [{r.kind} == k for r, k in zip(rows, found, strict=True)]),
    )
    final = [a.urgent for a in with_model] if with_model is not None else urgent_alone
    figures.misses = [rows[i] for i in danger if not final[i]]
    figures.false_alarms = [rows[i] for i in calm if final[i]]
    figures.wrong_kind = [(rows[i], found[i]) for i in danger if rows[i].kind not in found[i]]
    if scores is not None:
        for threshold in THRESHOLDS:
            tuned = copy.copy(detector)
            tuned.urgent_threshold = threshold
            urgent = [tuned.assess(r.text, s).urgent for r, s in zip(rows, scores, strict=True)]
            figures.sweep.append((threshold, _share(danger, urgent), _share(calm, urgent)))
    return figures


def _recall(rows: Sequence[Labelled], danger: list[int], urgent: list[bool]) -> dict[str, float]:
    by_kind: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for i in danger:
        name = _kind(rows[i])
        by_kind[name] += 1
        hits[name] += urgent[i]
    recall = {name: hits[name] / by_kind[name] for name in sorted(by_kind)}
    recall["all"] = _share(danger, urgent)
    return recall


def _share(indices: list[int], flags: Sequence[bool]) -> float:
    return sum(flags[i] for i in indices) / len(indices) if indices else 0.0


def format_figures(figures: Figures, *, title: str = "", details: bool = False) -> str:
    lines = [f"== {title} ({figures.danger} danger, {figures.calm} calm)"]
    lines.append(f"  {'danger recall':<28} {'detector alone':>15} {'detector + model':>17}")
    for name, value in figures.recall_alone.items():
        model = figures.recall_with_model[name] if figures.recall_with_model else None
        lines.append(f"  {name:<28} {value:>15.3f} {_maybe(model):>17}")
    lines.append(
        f"  {'calm false alarms':<28} {figures.false_alarms_alone:>15.3f} "
        f"{_maybe(figures.false_alarms_with_model):>17}"
    )
    lines.append(f"  kind named (expected among those found): {figures.kind_named:.3f}")
    lines.append(f"  kind exact (only the expected kind):     {figures.kind_exact:.3f}")
    if figures.sweep:
        lines.append("  urgent score threshold: danger recall / calm false alarms (detector + model)")
        lines += [f"    {t:.2f}: {r:.3f} / {f:.3f}" for t, r, f in figures.sweep]
    if details:
        lines += ["  missed:"] + [f"    [{_kind(r)}] {r.text}" for r in figures.misses]
        lines += ["  false alarms:"] + [f"    {r.text}" for r in figures.false_alarms]
        lines += ["  kind not named:"] + [
            f"    [{_kind(r)}] -> {sorted(k.value for k in found)}: {r.text}"
            for r, found in figures.wrong_kind
        ]
    return "\n".join(lines)


def _kind(row: Labelled) -> str:
    return row.kind.value if row.kind else "calm"


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


async def urgent_scores(texts: Sequence[str]) -> list[float]:
    """The trained model's urgent_safeguarding score for each text (the model is trained if stale)."""
    from bot.logs import configure_logging
    from bot.nlu.client import InProcessNlu
    from bot.nlu.model import ProjectPaths, ensure_model

    configure_logging()  # Rasa logs every parsed text at debug level: keep the messages out of the output
    nlu = InProcessNlu.load(ensure_model(ProjectPaths(ROOT)))
    return [(await nlu.parse(text)).confidence_of(URGENT_INTENT) for text in texts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    parser.add_argument("--no-model", action="store_true", help="the detector alone, without the model")
    parser.add_argument("--details", action="store_true", help="list misses, false alarms, wrong kinds")
    args = parser.parse_args(argv)
    tables = {path: read_labelled(path) for path in args.files}
    texts = [row.text for rows in tables.values() for row in rows]
    all_scores = None if args.no_model else iter(asyncio.run(urgent_scores(texts)))
    for path, rows in tables.items():
        scores = None if all_scores is None else [next(all_scores) for _ in rows]
        print(format_figures(measure(rows, scores), title=path.name, details=args.details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
