"""Compare intent classifiers over the pipeline's features by 5-fold cross-validation on nlu/ and on the
development set, then pick the fallback and clarification thresholds on the out-of-fold confidences.

Usage: uv run python scripts/select_pipeline.py [DEV_SET.tsv]  (default tests/data/nlu_dev.tsv)
The held-out set (tests/data/nlu_heldout.tsv) is NOT read here: choosing by it would make its figure a lie.

The features are computed once, the way the Rasa pipeline computes them (word and char_wb 1-4 n-gram
counts, the all-MiniLM-L6-v2 sentence embedding times a scale), so each candidate costs seconds instead of
five Rasa trainings; the chosen pipeline is then measured as a real Rasa model by `make cross-validate`.
Prints Markdown tables for docs/model-selection.md. EMBEDDING_CACHE=FILE keeps the embeddings between runs.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu.clarify import Outcome, Thresholds, outcome  # noqa: E402
from bot.nlu.client import NluResult  # noqa: E402
from bot.nlu.encoder import shared_encoder  # noqa: E402
from bot.nlu.evaluate import Example, read_examples, score  # noqa: E402

SEED = 2024
FOLDS = 5
MAX_ITER = 300
CHOSEN = "word n-grams + embedding x4, logistic regression"
DEV = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "nlu_dev.tsv"
Classifier = Callable[[], object]


def training_examples() -> list[Example]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "nlu"))
    return [Example(m.get("intent"), m.get("text")) for m in data.intent_examples]


class Features:
    """n-gram counts fitted on the training part, embeddings looked up from a cache of every text."""

    def __init__(self, texts: list[str], cache: Path | None = None) -> None:
        import pickle

        if cache is not None and cache.exists():
            self._embedding: dict[str, np.ndarray] = pickle.loads(cache.read_bytes())  # noqa: S301 - our own file
            if set(texts) <= set(self._embedding):
                return
        encoded = shared_encoder().encode(texts)
        self._embedding = {t: e.sentence for t, e in zip(texts, encoded, strict=True)}
        if cache is not None:
            cache.write_bytes(pickle.dumps(self._embedding))

    def fit(self, texts: list[str], scale: float, ngrams: str = "") -> Callable[[list[str]], object]:
        """`ngrams`: "" (none), "word", or "word+char" (char_wb 1-4, as config.yml had them)."""
        from sklearn.feature_extraction.text import CountVectorizer

        vectorizers = []
        if ngrams:
            vectorizers.append(CountVectorizer(lowercase=True, token_pattern=r"\S+").fit(texts))
        if ngrams == "word+char":
            char = CountVectorizer(analyzer="char_wb", ngram_range=(1, 4), lowercase=True, max_features=12000)
            vectorizers.append(char.fit(texts))

        def transform(batch: list[str]) -> object:
            dense = csr_matrix(np.stack([self._embedding[t] for t in batch]) * scale)
            return hstack([*(v.transform(batch) for v in vectorizers), dense]).tocsr()

        return transform


def candidates() -> dict[str, tuple[Classifier, float, str]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    def rasa_logistic() -> object:  # what rasa's LogisticRegressionClassifier builds
        return LogisticRegression(class_weight="balanced", max_iter=MAX_ITER, random_state=SEED)

    def rasa_svm() -> object:  # SklearnIntentClassifier's SVM (dense features only), at one C
        return SVC(C=5, kernel="linear", probability=True, class_weight="balanced", random_state=SEED)

    table: dict[str, tuple[Classifier, float, str]] = {
        "word n-grams, logistic regression": (rasa_logistic, 0.0, "word"),
    }
    for scale in (1.0, 4.0, 8.0):
        table[f"embedding x{scale:g}, logistic regression"] = (rasa_logistic, scale, "")
    for scale in (2.0, 4.0, 8.0):
        table[f"word n-grams + embedding x{scale:g}, logistic regression"] = (rasa_logistic, scale, "word")
    table["embedding, linear SVM at C=5 (SklearnIntentClassifier without its grid search)"] = (
        rasa_svm,
        1.0,
        "",
    )
    table["word + char n-grams, logistic regression"] = (rasa_logistic, 0.0, "word+char")
    return table


def _results(model: object, transform: Callable[[list[str]], object], texts: list[str]) -> list[NluResult]:
    probabilities = model.predict_proba(transform(texts))  # type: ignore[attr-defined]
    labels = list(model.classes_)  # type: ignore[attr-defined]
    results = []
    for row in probabilities:
        order = np.argsort(-row)
        ranking = tuple((str(labels[i]), float(row[i])) for i in order[:10])
        results.append(NluResult(ranking[0][0], ranking[0][1], ranking=ranking))
    return results


def evaluate(
    features: Features, data: list[Example], dev: list[Example], make: Classifier, scale: float, ngrams: str
) -> tuple[list[NluResult], list[NluResult], float]:
    """Out-of-fold results on the training data, results on the dev set, seconds to train on all data."""
    from sklearn.model_selection import StratifiedKFold

    texts = [e.text for e in data]
    labels = [e.intent for e in data]
    out_of_fold: list[NluResult | None] = [None] * len(data)
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for train_idx, test_idx in splitter.split(texts, labels):
        transform = features.fit([texts[i] for i in train_idx], scale, ngrams)
        model = make()
        model.fit(transform([texts[i] for i in train_idx]), [labels[i] for i in train_idx])  # type: ignore[attr-defined]
        for i, result in zip(test_idx, _results(model, transform, [texts[i] for i in test_idx]), strict=True):
            out_of_fold[i] = result
    started = time.perf_counter()
    transform = features.fit(texts, scale, ngrams)
    model = make()
    model.fit(transform(texts), labels)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    return (
        [r for r in out_of_fold if r is not None],
        _results(model, transform, [e.text for e in dev]),
        seconds,
    )


def with_fallback(results: list[NluResult], threshold: float) -> list[NluResult | str]:
    return [r if r.confidence >= threshold else "out_of_scope" for r in results]


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)  # sklearn's ConvergenceWarning at MAX_ITER
    data, dev = training_examples(), read_examples(DEV)
    started = time.perf_counter()
    cache = Path(os.environ["EMBEDDING_CACHE"]) if os.environ.get("EMBEDDING_CACHE") else None
    features = Features(sorted({e.text for e in data + dev}), cache)
    print(f"embedded {len(data) + len(dev)} texts in {time.perf_counter() - started:.0f} s\n", flush=True)
    print(
        "| classifier | CV accuracy | CV macro-F1 | CV urgent recall | CV OOS as policy | dev accuracy |"
        " dev macro-F1 | fit on all data |"
    )
    print("|---|---|---|---|---|---|---|---|")
    kept: dict[str, list[NluResult]] = {}
    for label, (make, scale, ngrams) in candidates().items():
        oof, on_dev, seconds = evaluate(features, data, dev, make, scale, ngrams)
        cv, dv = score(data, with_fallback(oof, 0.0)), score(dev, with_fallback(on_dev, 0.0))
        kept[label] = oof
        print(
            f"| {label} | {cv.accuracy:.3f} | {cv.macro_f1:.3f} | {cv.urgent_recall:.3f} | "
            f"{cv.oos_as_policy:.3f} | {dv.accuracy:.3f} | {dv.macro_f1:.3f} | {seconds:.1f} s |",
            flush=True,
        )
    chosen = CHOSEN
    print(f"\nfallback threshold, {chosen}, out-of-fold:\n")
    print("| threshold | accuracy | macro-F1 | urgent recall | OOS as policy |")
    print("|---|---|---|---|---|")
    for threshold in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3):
        report = score(data, with_fallback(kept[chosen], threshold))
        print(
            f"| {threshold:.2f} | {report.accuracy:.3f} | {report.macro_f1:.3f} | "
            f"{report.urgent_recall:.3f} | {report.oos_as_policy:.3f} |"
        )
    print("\nclarification thresholds, out-of-fold (answered wrongly / asked / gave up):\n")
    print("| min confidence | min margin | answered wrongly | asked | gave up |")
    print("|---|---|---|---|---|")
    for confident in (0.3, 0.4, 0.5, 0.6):
        for margin in (0.1, 0.2, 0.3):
            thresholds = Thresholds(confident=confident, margin=margin)
            outcome = decide_all(data, kept[chosen], thresholds)
            print(
                f"| {confident:.2f} | {margin:.2f} | {outcome[0]:.3f} | {outcome[1]:.3f} | {outcome[2]:.3f} |"
            )


def decide_all(data: list[Example], results: list[NluResult], thresholds: Thresholds) -> tuple[float, ...]:
    """Shares of messages answered wrongly, asked about, and given up on (answered out of scope, or the
    right intent not among the buttons)."""
    from collections import Counter

    from bot.nlu.evaluate import normalise

    counts = Counter(outcome(r, normalise(e.intent), thresholds) for e, r in zip(data, results, strict=True))
    asked = counts[Outcome.ASKED_OFFERED] + counts[Outcome.ASKED_MISSED]
    gave_up = counts[Outcome.GAVE_UP] + counts[Outcome.ASKED_MISSED]
    return counts[Outcome.ANSWERED_WRONG] / len(data), asked / len(data), gave_up / len(data)


if __name__ == "__main__":
    main()
