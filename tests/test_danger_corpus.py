"""The danger corpus (data/danger/): readable, large enough, from independent writers with their briefs,
and never holding a line of a test set."""

from __future__ import annotations

from collections import Counter

from bot.nlu.evaluate import read_examples
from bot.safeguarding import DangerKind
from bot.safeguarding.corpus import CORPUS_DIR, FIRST_LOOK_DIR, corpus_files, read_corpus, read_labelled
from tests.conftest import ROOT


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def test_the_corpus_has_thousands_of_each_side_and_every_kind() -> None:
    labels = Counter(row.label for row in read_corpus())
    assert labels["calm"] >= 4000
    assert sum(n for label, n in labels.items() if label != "calm") >= 4000
    assert all(labels[kind.value] >= 700 for kind in DangerKind)


def test_each_writer_of_the_corpus_has_a_brief() -> None:
    writers = {path.stem for path in corpus_files() if not path.stem.startswith("w0-")}
    briefs = {path.stem for path in (CORPUS_DIR.parent / "briefs").glob("*.md")}
    assert len(writers) >= 4
    assert writers == briefs


def test_no_line_of_a_test_set_is_in_the_corpus() -> None:
    corpus = {_key(row.text) for row in read_corpus()}
    tests = [row.text for path in FIRST_LOOK_DIR.glob("*.tsv") for row in read_labelled(path)]
    tests += [
        ex.text for path in (ROOT / "tests/data").glob("nlu_heldout*.tsv") for ex in read_examples(path)
    ]
    assert len(tests) > 1500
    copied = [text for text in tests if len(text.split()) >= 4 and _key(text) in corpus]
    assert copied == [], 'short replies ("hi", "no") may match by chance, longer lines may not'


def test_the_first_look_sets_are_three_of_the_size_asked_for() -> None:
    sets = sorted(FIRST_LOOK_DIR.glob("*.tsv"))
    assert len(sets) == 3
    for path in sets:
        rows = read_labelled(path)
        assert sum(r.danger for r in rows) >= 150
        assert sum(not r.danger for r in rows) >= 100
        assert {r.kind for r in rows if r.danger} == set(DangerKind)
