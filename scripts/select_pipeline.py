"""Compare candidate NLU pipelines and fallback thresholds on a held-out split of the training data.

Usage: uv run python scripts/select_pipeline.py
The development set (../shared/nlu-dev) is NOT used here: choosing by it would make its figure a lie.
Prints a Markdown table for docs/model-selection.md.
"""

from __future__ import annotations

import asyncio
import copy
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.logs import configure_logging  # noqa: E402
from bot.nlu.client import InProcessNlu  # noqa: E402
from bot.nlu.evaluate import Example, normalise, score  # noqa: E402
from bot.nlu.model import ProjectPaths, train  # noqa: E402

SEED = 7
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def _component(pipeline: list[dict], name: str, analyzer: str | None = None) -> dict:
    return next(
        c for c in pipeline if c["name"] == name and (analyzer is None or c.get("analyzer") == analyzer)
    )


def candidates(base: dict) -> dict[str, dict]:
    current = copy.deepcopy(base)
    no_transformer = copy.deepcopy(base)
    _component(no_transformer["pipeline"], "DIETClassifier")["number_of_transformer_layers"] = 0
    words_only = copy.deepcopy(base)
    words_only["pipeline"] = [c for c in words_only["pipeline"] if c.get("analyzer") != "char_wb"]
    return {
        "word + char n-grams, DIET 1x128 transformer (chosen)": current,
        "word + char n-grams, DIET no transformer": no_transformer,
        "word n-grams only, DIET 1x128 transformer": words_only,
    }


def split(root: Path) -> tuple[str, list[Example]]:
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import train_test_split

    data = load_data(str(root / "nlu"))
    messages = data.intent_examples
    labels = [m.get("intent") for m in messages]
    train_msgs, test_msgs = train_test_split(messages, test_size=0.2, stratify=labels, random_state=SEED)
    fold = TrainingData(training_examples=train_msgs, entity_synonyms=data.entity_synonyms)
    return fold.nlu_as_yaml(), [Example(m.get("intent"), m.get("text")) for m in test_msgs]


async def _parse_all(nlu: InProcessNlu, held_out: list[Example]) -> list[tuple[str, float]]:
    results = []
    for example in held_out:
        parsed = await nlu.parse(example.text)
        # FallbackClassifier puts nlu_fallback first in the ranking; the sweep needs DIET's own top guess.
        ranked = [(name, conf) for name, conf in parsed.ranking if name != "nlu_fallback"]
        results.append(ranked[0] if ranked else (parsed.intent, parsed.confidence))
    return results


def main() -> None:
    configure_logging()
    base = yaml.safe_load((ROOT / "config.yml").read_text())
    train_yaml, held_out = split(ROOT)
    print(f"held-out split: {len(held_out)} examples (20%, stratified, seed {SEED})\n")
    rows = []
    for label, config in candidates(base).items():
        with tempfile.TemporaryDirectory() as tmp:
            tmp_root = Path(tmp)
            (tmp_root / "nlu").mkdir()
            (tmp_root / "nlu" / "train.yml").write_text(train_yaml)
            (tmp_root / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            (tmp_root / "domain.yml").write_text((ROOT / "domain.yml").read_text())
            started = time.perf_counter()
            model = train(ProjectPaths(tmp_root), output=tmp_root / "models")
            seconds = time.perf_counter() - started
            tops = asyncio.run(_parse_all(InProcessNlu.load(model), held_out))
        for threshold in THRESHOLDS:
            predicted = [normalise(i) if c >= threshold else "out_of_scope" for i, c in tops]
            report = score(held_out, predicted)
            in_scope = [
                (e, p) for e, p in zip(held_out, predicted, strict=True) if e.intent != "out_of_scope"
            ]
            lost = sum(p == "out_of_scope" for _, p in in_scope) / len(in_scope)
            rows.append((label, threshold, report, lost, seconds))
            print(
                f"{label} | threshold {threshold:.1f} | acc {report.accuracy:.3f} | "
                f"macro-F1 {report.macro_f1:.3f} | urgent {report.urgent_recall:.3f} | "
                f"oos->policy {report.oos_as_policy:.3f} | in-scope->fallback {lost:.3f} | train {seconds:.0f}s",
                flush=True,
            )
    print(
        "\n| pipeline | fallback threshold | accuracy | macro-F1 | urgent recall | OOS as policy | "
        "in-scope sent to fallback | training time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, threshold, report, lost, seconds in rows:
        print(
            f"| {label} | {threshold:.1f} | {report.accuracy:.3f} | {report.macro_f1:.3f} | "
            f"{report.urgent_recall:.3f} | {report.oos_as_policy:.3f} | {lost:.3f} | {seconds:.0f} s |"
        )


if __name__ == "__main__":
    main()
