"""Measuring the model: accuracy, macro-F1, per-intent recall, confusions, and the safety figures."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.nlu.clarify import Outcome, outcome
from bot.nlu.client import NluClient, NluResult
from bot.nlu.intents import (
    CODE_QUESTIONS,
    FALLBACK_INTENT,
    HANDOFF_INTENTS,
    OUT_OF_SCOPE_INTENT,
    POLICY_INTENTS,
    URGENT_INTENT,
)
from bot.safeguarding import Tier

HEADER = ("intent", "text")
"""A first line naming the columns is allowed (and skipped)."""


class EvaluationFileError(ValueError):
    """A test file line that is not `intent<TAB>text`."""


@dataclass(frozen=True)
class Example:
    intent: str
    text: str


@dataclass
class Report:
    total: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    support: dict[str, int]
    confusions: list[tuple[str, str, int]]
    urgent_recall: float | None
    urgent_guided: float | None
    """Share of urgent messages the safeguarding gate (lexicon and danger model) answers with the
    guidance or with its "is a child at risk now?" check, as the engine does: the NLU intent alone
    does not decide."""
    oos_as_policy: float | None
    code_started_flow: int = 0
    """Questions about the code that the model read as a report or a handoff: each would have started
    a flow the parent did not ask for."""
    code_alarmed: int = 0
    """Questions about the code the safeguarding gate met with the guidance or its "is a child at risk
    now?" check: a false alarm."""
    errors: list[tuple[Example, str]] = field(default_factory=list)
    clarification: dict[Outcome, float] = field(default_factory=dict)
    """Share of messages per outcome when the bot asks "Did you mean ...?" instead of guessing
    (bot/nlu/clarify.py); empty when only bare intent names were scored."""


def read_examples(path: Path) -> list[Example]:
    """Lines `intent<TAB>text`; blank lines and lines starting with # are skipped."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        intent, sep, text = line.partition("\t")
        if number == 1 and (intent.strip(), text.strip()) == HEADER:
            continue
        if not sep or not intent.strip() or not text.strip():
            raise EvaluationFileError(f"{path}:{number}: expected 'intent<TAB>text'")
        examples.append(Example(intent.strip(), text.strip()))
    if not examples:
        raise EvaluationFileError(f"{path}: no examples")
    return examples


_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def comparable(text: str) -> str:
    """A message as compared with the training data: entity annotations removed, lower case, single
    spaces."""
    return " ".join(_ANNOTATION.sub(r"\1", text).lower().split())


def training_texts(nlu_dir: Path) -> set[str]:
    """Every training example of `nlu_dir`, comparable()."""
    import yaml

    return {
        comparable(line.strip().removeprefix("- "))
        for file in sorted(nlu_dir.rglob("*.yml"))
        for block in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("nlu", [])
        if "intent" in block
        for line in block.get("examples", "").splitlines()
        if line.strip()
    }


@dataclass(frozen=True)
class Overlap:
    """How many test messages are also, word for word, training examples (written independently, short
    messages like "hello" coincide), and the accuracy on the others."""

    seen: int
    unseen_accuracy: float | None

    def describe(self, total: int) -> str:
        rest = "n/a" if self.unseen_accuracy is None else f"{self.unseen_accuracy:.3f}"
        return (
            f"also in nlu/ word for word: {self.seen} of {total}; "
            f"accuracy on the other {total - self.seen}: {rest}"
        )


def overlap(examples: Sequence[Example], report: Report, trained: set[str]) -> Overlap:
    wrong = {id(example) for example, _ in report.errors}
    unseen = [example for example in examples if comparable(example.text) not in trained]
    right = sum(id(example) not in wrong for example in unseen)
    return Overlap(len(examples) - len(unseen), right / len(unseen) if unseen else None)


def normalise(intent: str) -> str:
    """nlu_fallback (Rasa's low-confidence verdict) counts as out_of_scope: the bot answers both the same
    way, so telling them apart would score right answers as errors."""
    return OUT_OF_SCOPE_INTENT if intent == FALLBACK_INTENT else intent


async def predict(nlu: NluClient, examples: Sequence[Example]) -> list[NluResult]:
    return [await nlu.parse(example.text) for example in examples]


def score(examples: Sequence[Example], parsed: Sequence[NluResult | str]) -> Report:
    """Figures for gold `examples` against the model's results (or bare predicted intent names)."""
    from bot.safeguarding.gate import DangerGate

    gate = DangerGate()
    results = [p if isinstance(p, NluResult) else NluResult(p, 1.0) for p in parsed]
    predicted = [normalise(r.intent) for r in results]
    from sklearn.metrics import f1_score

    gold = [normalise(example.intent) for example in examples]
    labels = sorted(set(gold))
    support = Counter(gold)
    hits = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
    recall = {label: hits[label] / support[label] for label in labels}
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    oos = [p for g, p in zip(gold, predicted, strict=True) if g == OUT_OF_SCOPE_INTENT]
    urgent = [
        gate.assess(ex.text, r.danger).tier is not Tier.CALM
        for ex, g, r in zip(examples, gold, results, strict=True)
        if g == URGENT_INTENT
    ]
    code = [
        (ex, p, r)
        for ex, g, p, r in zip(examples, gold, predicted, results, strict=True)
        if g in CODE_QUESTIONS
    ]
    return Report(
        total=len(gold),
        accuracy=sum(hits.values()) / len(gold),
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        recall=recall,
        support=dict(support),
        confusions=[(g, p, n) for (g, p), n in confusions.most_common()],
        urgent_recall=recall.get(URGENT_INTENT),
        urgent_guided=(sum(urgent) / len(urgent)) if urgent else None,
        oos_as_policy=(sum(p in POLICY_INTENTS for p in oos) / len(oos)) if oos else None,
        code_started_flow=sum(p in HANDOFF_INTENTS for _, p, _ in code),
        code_alarmed=sum(gate.assess(ex.text, r.danger).tier is not Tier.CALM for ex, _, r in code),
        errors=[(ex, p) for ex, g, p in zip(examples, gold, predicted, strict=True) if g != p],
        clarification=_clarification(gold, parsed),
    )


def _clarification(gold: Sequence[str], parsed: Sequence[NluResult | str]) -> dict[Outcome, float]:
    if not all(isinstance(p, NluResult) for p in parsed):
        return {}  # bare intent names: no confidences to decide by
    outcomes = Counter(outcome(p, g) for g, p in zip(gold, parsed, strict=True) if isinstance(p, NluResult))
    return {kind: outcomes[kind] / len(gold) for kind in Outcome}


def format_report(report: Report, *, show_errors: bool = False, top_confusions: int = 10) -> str:
    lines = [
        f"examples:                 {report.total}",
        f"accuracy:                 {report.accuracy:.3f}",
        f"macro-F1:                 {report.macro_f1:.3f}",
        f"urgent_safeguarding recall: {_maybe(report.urgent_recall)}",
        f"urgent messages given emergency guidance (model + gate): {_maybe(report.urgent_guided)}",
        f"out-of-scope answered as policy: {_maybe(report.oos_as_policy)}",
        f"code questions that would start a report or handoff flow: {report.code_started_flow}",
        f"code questions met with the danger guidance or check (false alarms): {report.code_alarmed}",
        *_clarification_lines(report.clarification),
        "",
        "per-intent recall:",
    ]
    for intent in sorted(report.recall):
        lines.append(f"  {intent:<24} {report.recall[intent]:.2f}  (n={report.support[intent]})")
    lines += ["", "most confused (gold -> predicted):"]
    lines += [f"  {g} -> {p}: {n}" for g, p, n in report.confusions[:top_confusions]] or ["  none"]
    if show_errors and report.errors:
        lines += ["", "misclassified:"]
        lines += [f"  {ex.intent} -> {p}: {ex.text}" for ex, p in report.errors]
    return "\n".join(lines)


def format_cross_validation(reports: Sequence[Report], *, show_errors: bool = False) -> str:
    """The folds' mean figures, and with `show_errors` every training example its fold got wrong."""

    def mean(values: Sequence[float | None]) -> str:
        present = [v for v in values if v is not None]
        return f"{sum(present) / len(present):.3f}" if present else "n/a"

    lines = [
        f"\n{len(reports)}-fold cross-validation on the training data:",
        f"  accuracy  mean {mean([r.accuracy for r in reports])}",
        f"  macro-F1  mean {mean([r.macro_f1 for r in reports])}",
        f"  urgent_safeguarding recall mean {mean([r.urgent_recall for r in reports])}",
        f"  urgent messages given emergency guidance mean {mean([r.urgent_guided for r in reports])}",
        f"  out-of-scope answered as policy mean {mean([r.oos_as_policy for r in reports])}",
    ]
    wrong = [r.clarification[Outcome.ANSWERED_WRONG] for r in reports if r.clarification]
    if wrong:
        lines.append(f"  answered wrongly with clarification mean {mean(wrong)}")
    if show_errors:
        errors = [error for report in reports for error in report.errors]
        lines += ["", f"misclassified ({len(errors)}):"]
        lines += [f"  {ex.intent} -> {p}: {ex.text}" for ex, p in errors]
    return "\n".join(lines)


def _clarification_lines(shares: dict[Outcome, float]) -> list[str]:
    if not shares:
        return []
    asked = shares[Outcome.ASKED_OFFERED] + shares[Outcome.ASKED_MISSED]
    gave_up = shares[Outcome.GAVE_UP] + shares[Outcome.ASKED_MISSED]
    return [
        'with clarification ("Did you mean ...?" when unsure):',
        f"  answered wrongly:         {shares[Outcome.ANSWERED_WRONG]:.3f}",
        f"  asked:                    {asked:.3f}  (right intent among the buttons: "
        f"{shares[Outcome.ASKED_OFFERED]:.3f})",
        f"  gave up:                  {gave_up:.3f}  (answered out of scope, or right intent not offered)",
        f"  answered right:           {shares[Outcome.ANSWERED_RIGHT]:.3f}",
    ]


def _maybe(value: float | None) -> str:
    return "n/a (no such examples)" if value is None else f"{value:.3f}"


def cross_validate(root: Path, folds: int = 5, seed: int = 2024) -> list[Report]:
    """Stratified k-fold cross-validation on the training data, one Rasa model per fold."""
    import asyncio

    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    from bot.nlu.client import InProcessNlu
    from bot.nlu.model import ProjectPaths, train

    paths = ProjectPaths(root)
    data = load_data(str(paths.nlu))
    messages = data.intent_examples
    labels = [m.get("intent") for m in messages]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    reports = []
    for number, (train_idx, test_idx) in enumerate(splitter.split(messages, labels), start=1):
        fold_train = TrainingData(
            training_examples=[messages[i] for i in train_idx],
            entity_synonyms=data.entity_synonyms,
        )
        held_out = [Example(labels[i], messages[i].get("text")) for i in test_idx]
        with tempfile.TemporaryDirectory() as tmp:
            nlu_file = Path(tmp) / "fold.yml"
            nlu_file.write_text(fold_train.nlu_as_yaml(), encoding="utf-8")
            model = train(paths, nlu_data=nlu_file, output=Path(tmp))
            nlu = InProcessNlu.load(model)
            report = score(held_out, asyncio.run(predict(nlu, held_out)))
        print(f"fold {number}/{folds}: accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
        reports.append(report)
    return reports
