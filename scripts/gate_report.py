"""Figures of the safeguarding gate over labelled messages (bot.safeguarding.corpus's file format), per
kind and per tier, and the choice of its thresholds: `parentbot evaluate-gate [FILE ...] [--details]` and
`parentbot evaluate-gate --validate` (`make evaluate-gate`, `make validate-gate`) run this file, as does
`uv run python scripts/gate_report.py [--validate] [--details] [FILE ...]`.

Each message is read as the engine reads a parent's first message: the trained NLU model parses it (its
danger head gives the reading) and the gate decides the tier. The same messages are also read by the
lexicon alone, which is what the gate does while the model is still loading.

A developer's measuring tool, not part of the running bot: it lives beside the other scripts so the gate's
package holds only what decides a parent's message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: the bot's package is the repository's
    sys.path.insert(0, str(ROOT))

from bot.safeguarding import DangerAssessment, DangerKind, DangerReading, Tier  # noqa: E402
from bot.safeguarding.corpus import (  # noqa: E402
    CORPUS_DIR,
    FIRST_LOOK_DIR,
    THRESHOLDS_FILE,
    Labelled,
    LabelledFileError,
    corpus_files,
    fingerprint,
    read_labelled,
)
from bot.safeguarding.gate import DangerGate  # noqa: E402
from bot.safeguarding.head import Thresholds, Validation, choose_thresholds, validate  # noqa: E402

if TYPE_CHECKING:
    from bot.config import Settings

KINDS = [kind.value for kind in DangerKind]


@dataclass
class Figures:
    """What the gate did with one file's messages."""

    title: str
    danger: int = 0
    calm: int = 0
    tiers: dict[str, Counter[Tier]] = field(default_factory=dict)
    """Per kind (and "calm"), how many messages got each tier."""
    kind_right: int = 0
    """Danger messages given full guidance that includes their kind's own."""
    general: int = 0
    """Danger messages given full guidance of the general kind (every kind's lines)."""
    lexicon_alone: dict[str, Counter[Tier]] = field(default_factory=dict)
    misses: list[Labelled] = field(default_factory=list)
    checked: list[tuple[Labelled, DangerAssessment]] = field(default_factory=list)
    false_alarms: list[tuple[Labelled, DangerAssessment]] = field(default_factory=list)
    wrong_kind: list[tuple[Labelled, DangerAssessment]] = field(default_factory=list)

    def share(self, label: str, *tiers: Tier, lexicon: bool = False) -> float:
        table = self.lexicon_alone if lexicon else self.tiers
        if label == "danger":
            counts: Counter[Tier] = sum((table.get(kind, Counter()) for kind in KINDS), Counter())
        else:
            counts = table.get(label, Counter())
        total = sum(counts.values())
        return sum(counts[tier] for tier in tiers) / total if total else 0.0


def measure(
    title: str, rows: Sequence[Labelled], readings: Sequence[DangerReading | None], gate: DangerGate
) -> Figures:
    figures = Figures(title)
    for row, reading in zip(rows, readings, strict=True):
        assessment = gate.assess(row.text, reading)
        alone = gate.assess(row.text, None)
        figures.tiers.setdefault(row.label, Counter())[assessment.tier] += 1
        figures.lexicon_alone.setdefault(row.label, Counter())[alone.tier] += 1
        if not row.danger:
            figures.calm += 1
            if assessment.urgent:
                figures.false_alarms.append((row, assessment))
            elif assessment.needs_check:
                figures.checked.append((row, assessment))
            continue
        figures.danger += 1
        if assessment.tier is Tier.CALM:
            figures.misses.append(row)
        elif assessment.needs_check:
            figures.checked.append((row, assessment))
        elif not assessment.kinds:
            figures.general += 1
        elif row.kind in assessment.kinds:
            figures.kind_right += 1
        else:
            figures.wrong_kind.append((row, assessment))
    return figures


def format_figures(figures: Figures, *, details: bool = False) -> str:
    f = figures
    lines = [f"== {f.title}: {f.danger} danger, {f.calm} calm"]
    lines.append(f"  {'':<20} {'full':>6} {'check':>6} {'none':>6}   {'lexicon alone: full':>20}")
    for label in [*KINDS, "calm"]:
        counts = f.tiers.get(label, Counter())
        total = sum(counts.values()) or 1
        alone = f.lexicon_alone.get(label, Counter())
        lines.append(
            f"  {label:<20} {counts[Tier.FULL] / total:>6.3f} {counts[Tier.CHECK] / total:>6.3f} "
            f"{counts[Tier.CALM] / total:>6.3f}   {alone[Tier.FULL] / total:>20.3f}"
        )
    guided = max(1, sum(f.tiers.get(kind, Counter())[Tier.FULL] for kind in KINDS))
    lines.append(
        f"  danger: full or check {f.share('danger', Tier.FULL, Tier.CHECK):.3f}, "
        f"full {f.share('danger', Tier.FULL):.3f}; of those given full guidance, "
        f"own kind {f.kind_right / guided:.3f}, general {f.general / guided:.3f}"
    )
    lines.append(
        f"  calm: full alarm {f.share('calm', Tier.FULL):.3f}, check {f.share('calm', Tier.CHECK):.3f}"
    )
    if details:
        lines += ["  danger, no guidance:"] + [f"    [{r.label}] {r.text}" for r in f.misses]
        lines += ["  danger given another kind's guidance:"] + [
            f"    [{r.label}] -> {sorted(k.value for k in a.kinds)} ({a.because}): {r.text}"
            for r, a in f.wrong_kind
        ]
        lines += ["  calm, full alarm:"] + [f"    ({a.because}) {r.text}" for r, a in f.false_alarms]
        lines += ["  asked first:"] + [f"    [{r.label}] ({a.because}) {r.text}" for r, a in f.checked]
    return "\n".join(lines)


def ordinary_texts(nlu_dir: Path) -> list[str]:
    """The NLU training examples of every intent but urgent_safeguarding (as Rasa reads them)."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu_dir))
    return [m.get("text") for m in data.intent_examples if m.get("intent") != "urgent_safeguarding"]


def validate_corpus(
    nlu_dir: Path, corpus_dir: Path = CORPUS_DIR
) -> tuple[Validation, Thresholds, np.ndarray]:
    """The leave-one-writer-out validation of the danger head, as the DangerClassifier trains it, and the
    thresholds it gives; also which messages the lexicon finds danger in."""
    from bot.nlu.components.danger_classifier import corpus_features, encoded_texts

    key = fingerprint(corpus_files(corpus_dir))
    texts, vectors, parts, labels, writers = corpus_features(str(corpus_dir), key)
    ordinary, ordinary_vectors, ordinary_parts = encoded_texts(ordinary_texts(nlu_dir))
    all_texts = [*texts, *ordinary]
    validation = validate(
        all_texts,
        np.vstack([vectors, ordinary_vectors]),
        [*parts, *ordinary_parts],
        [*labels, *(["calm"] * len(ordinary))],
        [*writers, *(["nlu"] * len(ordinary))],
        uncounted=frozenset({"nlu"}),
    )
    gate = DangerGate()
    lexicon = np.array([bool(gate.detector.kinds(text)) for text in all_texts])
    return validation, choose_thresholds(validation, lexicon), lexicon


def format_validation(validation: Validation, thresholds: Thresholds, lexicon: np.ndarray) -> str:
    """Per writer (each read by a head trained without it), what the gate would do at these thresholds."""
    t = thresholds
    danger = validation.danger
    full = (danger >= t.full_at) | (lexicon & (danger >= t.lexicon_at))
    check = ~full & ((danger >= t.check_at) | lexicon | (validation.part_danger >= t.part_at))
    writers = np.array(validation.writers)
    is_danger = validation.is_danger
    lines = [
        f"thresholds: full_at {t.full_at}, check_at {t.check_at}, lexicon_at {t.lexicon_at}, "
        f"kind_at {t.kind_at}, part_at {t.part_at}",
        f"  {'writer':<8} {'danger':>7} {'full':>6} {'check':>6} {'none':>6} {'kind':>6}"
        f" | {'calm':>6} {'full':>6} {'check':>6}",
    ]
    for writer in [*sorted(set(validation.writers) - {"nlu"}), "nlu", "all"]:
        mine = writers == writer if writer != "all" else validation.counts
        d, c = mine & is_danger, mine & ~is_danger
        share = lambda flags, among: flags[among].mean() if among.any() else 0.0  # noqa: E731
        lines.append(
            f"  {writer:<8} {d.sum():>7} {share(full, d):>6.3f} {share(check, d):>6.3f} "
            f"{share(~full & ~check, d):>6.3f} {share(validation.kind_right, d & full):>6.3f}"
            f" | {c.sum():>6} {share(full, c):>6.3f} {share(check, c):>6.3f}"
        )
    return "\n".join(lines)


def write_thresholds(path: Path, validation: Validation, thresholds: Thresholds, lexicon: np.ndarray) -> str:
    """Write the thresholds file, with the validation that chose them in its comments; returns that."""
    import yaml

    report = format_validation(validation, thresholds, lexicon)
    header = (
        "# Chosen by `parentbot evaluate-gate --validate` on the danger corpus, one writer held out at a\n"
        "# time (bot/safeguarding/head.py says how). Do not edit by hand: run the command again after\n"
        "# changing the corpus. The validation it printed:\n"
    )
    values = {"corpus": fingerprint(corpus_files(CORPUS_DIR)), **vars(thresholds)}
    commented = "".join(f"#   {line}\n" for line in report.splitlines())
    path.write_text(header + commented + yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return report


def evaluate_gate(files: Sequence[Path], *, details: bool, settings: Settings) -> int:
    """The figures of each labelled file (default: the first-look sets), read by the model the settings
    name; an exit status."""
    from bot.services import load_nlu

    try:
        tables = [(file, read_labelled(file)) for file in files or sorted(FIRST_LOOK_DIR.glob("*.tsv"))]
    except (OSError, LabelledFileError) as error:
        print(f"parentbot evaluate-gate: {error}", file=sys.stderr)
        return 2
    nlu = load_nlu(settings)
    gate = DangerGate()

    async def readings(texts: list[str]) -> list[DangerReading | None]:
        return [(await nlu.parse(text)).danger for text in texts]

    for file, rows in tables:
        started = time.perf_counter()
        read = asyncio.run(readings([row.text for row in rows]))
        elapsed = time.perf_counter() - started
        print(format_figures(measure(file.name, rows, read, gate), details=details))
        print(f"  parsed {len(rows)} messages in {elapsed:.2f} s\n")
    return 0


def validate_gate(nlu_dir: Path) -> int:
    """Choose the thresholds on the danger corpus and write them to data/danger/thresholds.yml."""
    validation, thresholds, lexicon = validate_corpus(nlu_dir)
    print(write_thresholds(THRESHOLDS_FILE, validation, thresholds, lexicon))
    print(f"written to {THRESHOLDS_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run as a file: the same as `parentbot evaluate-gate`."""
    from bot.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--details", action="store_true")
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args(argv)
    if args.validate:
        return validate_gate(ROOT / "nlu")
    return evaluate_gate(args.files, details=args.details, settings=load_settings())


if __name__ == "__main__":
    sys.exit(main())
