"""Labelled danger messages: the training corpus (data/danger/corpus/) and the frozen first-look test sets
(tests/data/firstlook/) share one file format.

A file has a header line and then `label<TAB>kind<TAB>text` lines: label `danger` or `calm`, kind one of
the DangerKind values (`calm` for calm lines). The writer of a line is the part of its file name before the
first `-` ("w3-other-languages.tsv" -> "w3"): the danger model's thresholds are chosen on messages of
writers it was not trained on, so that they hold for writers it has never seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.safeguarding import DangerKind

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = ROOT / "data" / "danger" / "corpus"
THRESHOLDS_FILE = ROOT / "data" / "danger" / "thresholds.yml"
FIRST_LOOK_DIR = ROOT / "tests" / "data" / "firstlook"


class LabelledFileError(ValueError):
    """A line that is not `danger|calm<TAB>kind<TAB>text`."""


@dataclass(frozen=True)
class Labelled:
    danger: bool
    kind: DangerKind | None
    text: str
    writer: str = ""

    @property
    def label(self) -> str:
        """The class the danger model learns: the kind's value, or "calm"."""
        return self.kind.value if self.kind else "calm"


def read_labelled(path: Path) -> list[Labelled]:
    rows = []
    writer = path.stem.split("-", 1)[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3 or parts[0] not in {"danger", "calm"} or not parts[2].strip():
            raise LabelledFileError(f"{path}:{number}: expected 'danger|calm<TAB>kind<TAB>text'")
        label, kind, text = parts
        try:
            parsed = DangerKind(kind) if label == "danger" else None
        except ValueError as error:
            raise LabelledFileError(f"{path}:{number}: unknown kind {kind!r}") from error
        rows.append(Labelled(label == "danger", parsed, text.strip(), writer))
    return rows


def corpus_files(directory: Path = CORPUS_DIR) -> list[Path]:
    return sorted(directory.glob("*.tsv"))


def read_corpus(directory: Path = CORPUS_DIR) -> list[Labelled]:
    """Every line of the corpus, once (a message two writers both wrote counts once)."""
    seen: set[str] = set()
    rows = []
    for row in (row for path in corpus_files(directory) for row in read_labelled(path)):
        key = " ".join(row.text.casefold().split())
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def fingerprint(files: Iterable[Path]) -> str:
    """A short hash of the corpus files (names and contents): part of the NLU model's fingerprint."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
