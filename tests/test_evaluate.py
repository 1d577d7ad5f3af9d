"""Model-quality figures: the scoring arithmetic and the `parentbot evaluate` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.nlu.evaluate import EvaluationFileError, Example, read_examples, score

ROOT = Path(__file__).resolve().parent.parent


def test_scores_are_computed_from_gold_and_predicted_labels() -> None:
    examples = [
        Example("greet", "hi"),
        Example("greet", "hello"),
        Example("urgent_safeguarding", "help"),
        Example("urgent_safeguarding", "danger"),
        Example("out_of_scope", "half term"),
        Example("out_of_scope", "weather"),
    ]
    predicted = [
        "greet",
        "thank",
        "urgent_safeguarding",
        "report_cyberbullying",
        "out_of_scope",
        "legal_basis",
    ]
    report = score(examples, predicted)
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.recall == {"greet": 0.5, "urgent_safeguarding": 0.5, "out_of_scope": 0.5}
    assert report.urgent_recall == 0.5
    assert report.oos_as_policy == 0.5
    assert ("greet", "thank", 1) in report.confusions
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 2 / 3) / 3)


def test_nlu_fallback_counts_as_out_of_scope() -> None:
    report = score(
        [Example("out_of_scope", "x"), Example("nlu_fallback", "y")], ["out_of_scope", "out_of_scope"]
    )
    assert report.accuracy == 1.0


def test_a_malformed_line_is_named_in_the_error(tmp_path: Path) -> None:
    file = tmp_path / "bad.tsv"
    file.write_text("greet\thello\nno tab here\n")
    with pytest.raises(EvaluationFileError, match=r"bad.tsv:2"):
        read_examples(file)


def test_parentbot_evaluate_prints_the_figures_of_a_small_file(model_path: Path, tmp_path: Path) -> None:
    file = tmp_path / "small.tsv"
    # The first two lines are training examples labelled correctly; the third is deliberately mislabelled
    # (a training example of greet, claimed to be legal_basis), so accuracy is exactly 2/3.
    file.write_text(
        f"urgent_safeguarding\t{_first_example('urgent_safeguarding')}\n"
        f"greet\t{_first_example('greet')}\n"
        f"legal_basis\t{_first_example('greet')}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "evaluate", str(file)],
        capture_output=True,
        text=True,
        env={**os.environ, "PROJECT_DIR": str(ROOT), "RASA_MODEL": str(model_path)},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "accuracy:                 0.667" in result.stdout
    assert "urgent_safeguarding recall: 1.000" in result.stdout
    assert "legal_basis -> greet: 1" in result.stdout
    assert "also in nlu/ word for word: 3 of 3; accuracy on the other 0: n/a" in result.stdout


def _first_example(intent: str) -> str:
    import yaml

    for file in sorted((ROOT / "nlu").glob("*.yml")):
        for block in yaml.safe_load(file.read_text())["nlu"]:
            if block.get("intent") == intent:
                line = next(ln for ln in block["examples"].splitlines() if ln.strip().startswith("- "))
                return re.sub(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))", r"\1", line.strip()[2:])
    raise LookupError(intent)


def test_a_header_line_naming_the_columns_is_skipped(tmp_path: Path) -> None:
    file = tmp_path / "with_header.tsv"
    file.write_text("intent\ttext\ngreet\thello\n")
    assert read_examples(file) == [Example("greet", "hello")]


@pytest.mark.parametrize(
    ("name", "at_least"), [("nlu_heldout.tsv", 420), ("nlu_heldout_b.tsv", 450), ("nlu_heldout_c.tsv", 600)]
)
def test_each_frozen_held_out_set_covers_every_intent_of_the_training_data(name: str, at_least: int) -> None:
    import yaml

    trained = {
        block["intent"]
        for file in (ROOT / "nlu").glob("*.yml")
        for block in yaml.safe_load(file.read_text())["nlu"]
        if "intent" in block
    }
    held_out = read_examples(ROOT / "tests" / "data" / name)
    assert len(held_out) >= at_least
    assert {example.intent for example in held_out} == trained


@pytest.mark.parametrize(
    ("name", "coinciding"), [("nlu_heldout.tsv", 91), ("nlu_heldout_b.tsv", 87), ("nlu_heldout_c.tsv", 62)]
)
def test_the_held_out_sets_share_no_more_messages_with_nlu_than_when_they_were_frozen(
    name: str, coinciding: int
) -> None:
    """Independently written messages coincide with training examples by chance ("hello", "yes please");
    these were the counts on 2026-11-30 (set C: 2026-12-04). More means a held-out message reached nlu/:
    rephrase the new training example that equals one, or its held-out figures are no longer a test."""
    from bot.nlu.evaluate import comparable, training_texts

    trained = training_texts(ROOT / "nlu")
    seen = sum(comparable(e.text) in trained for e in read_examples(ROOT / "tests" / "data" / name))
    assert seen <= coinciding


def test_clarification_outcomes_are_reported_when_the_model_ranks_intents() -> None:
    from bot.nlu.clarify import Outcome
    from bot.nlu.client import NluResult

    examples = [Example("greet", "hi"), Example("thank", "ta"), Example("deny", "nah")]
    parsed = [
        NluResult("greet", 0.9, ranking=(("greet", 0.9), ("thank", 0.05))),
        NluResult("greet", 0.45, ranking=(("greet", 0.45), ("thank", 0.4))),
        NluResult("affirm", 0.95, ranking=(("affirm", 0.95), ("deny", 0.02))),
    ]
    report = score(examples, parsed)
    assert report.clarification[Outcome.ANSWERED_RIGHT] == pytest.approx(1 / 3)
    assert report.clarification[Outcome.ASKED_OFFERED] == pytest.approx(1 / 3)
    assert report.clarification[Outcome.ANSWERED_WRONG] == pytest.approx(1 / 3)


def test_an_unreadable_message_does_not_hide_the_clarification_figures() -> None:
    """A message with no Latin letter is not parsed (bot/nlu/client.py): a fallback with no ranking."""
    from bot.nlu.clarify import Outcome
    from bot.nlu.client import NluResult
    from bot.nlu.intents import FALLBACK_INTENT

    examples = [Example("greet", "hi"), Example("greet", "👋")]
    parsed = [
        NluResult("greet", 0.9, ranking=(("greet", 0.9), ("thank", 0.05))),
        NluResult(FALLBACK_INTENT, 0.0),
    ]
    report = score(examples, parsed)
    assert report.clarification[Outcome.ANSWERED_RIGHT] == pytest.approx(1 / 2)
    assert report.clarification[Outcome.GAVE_UP] == pytest.approx(1 / 2)


def test_messages_also_in_the_training_data_are_counted_and_left_out_of_the_other_accuracy(
    tmp_path: Path,
) -> None:
    from bot.nlu.evaluate import overlap, training_texts

    (tmp_path / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - Hello\n'
        "- intent: group_chats\n  examples: |\n    - the [WhatsApp](platform) group is   nasty\n"
        "- lookup: platform\n  examples: |\n    - TikTok\n"
    )
    trained = training_texts(tmp_path)
    assert trained == {"hello", "the whatsapp group is nasty"}
    examples = [
        Example("greet", "hello"),
        Example("group_chats", "The WhatsApp group is nasty"),
        Example("thank", "cheers"),
        Example("deny", "nah"),
    ]
    report = score(examples, ["greet", "greet", "thank", "affirm"])
    found = overlap(examples, report, trained)
    assert found.seen == 2
    assert found.unseen_accuracy == pytest.approx(0.5)
    assert "2 of 4" in found.describe(4)


def test_cross_validation_summary_gives_means_and_on_request_each_fold_error() -> None:
    from bot.nlu.evaluate import format_cross_validation

    folds = [
        score([Example("greet", "hi"), Example("thank", "ta")], ["greet", "greet"]),
        score([Example("greet", "hello"), Example("deny", "nah")], ["greet", "deny"]),
    ]
    summary = format_cross_validation(folds)
    assert "2-fold cross-validation" in summary
    assert "accuracy  mean 0.750" in summary
    assert "misclassified" not in summary
    with_errors = format_cross_validation(folds, show_errors=True)
    assert "misclassified (1):\n  thank -> greet: ta" in with_errors


def test_the_typo_copies_are_what_the_script_makes_of_each_set(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_typos", ROOT / "scripts" / "make_typos.py")
    assert spec is not None
    assert spec.loader is not None
    make_typos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_typos)
    for name in make_typos.SETS:
        source = ROOT / "tests" / "data" / name
        made = tmp_path / name
        assert make_typos.copy_set(source, made) == len(read_examples(source))
        committed = ROOT / "tests" / "data" / "typos" / name
        assert made.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")
        originals, typed = read_examples(source), read_examples(committed)
        assert [e.intent for e in typed] == [e.intent for e in originals]
        changed = sum(a.text != b.text for a, b in zip(originals, typed, strict=True))
        assert changed >= len(originals) // 3, "the copy must actually be misspelt"
