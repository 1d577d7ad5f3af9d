"""Which trained model belongs to the current training data, and training one when none does.

A model's file name carries a fingerprint of `nlu/`, the danger corpus (data/danger/corpus/), `config.yml`
and `domain.yml`, so "is the model up to date?" is a file lookup, and a test session or `make run` after an
unchanged checkout trains nothing.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

MODEL_PREFIX = "nlu-"
MODELS_KEPT = 3
"""Trained models kept in models/ (the newest ones)."""
EXPECTED_TRAINING_WARNINGS = (
    r"You have defined training data consisting of entity examples",
    r"You have defined training data consisting of lookup tables",
)
"""Rasa's advice for pipelines that learn entities; ours finds the closed entity lists by lookup tables
(RegexEntityExtractor), and the annotations in nlu/ are kept for the synonyms and for reading."""


@dataclass(frozen=True)
class ProjectPaths:
    """Where the Rasa files of a project live."""

    root: Path

    @property
    def nlu(self) -> Path:
        return self.root / "nlu"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def danger_corpus(self) -> Path:
        return self.root / "data" / "danger" / "corpus"

    def training_files(self) -> list[Path]:
        return [
            *sorted(self.nlu.rglob("*.yml")),
            *sorted(self.danger_corpus.glob("*.tsv")),
            *self.danger_corpus.parent.glob("thresholds.yml"),
            self.config,
            self.domain,
        ]


def fingerprint(paths: ProjectPaths) -> str:
    """A short hash of every file the model is trained from (names and contents)."""
    digest = hashlib.sha256()
    for file in paths.training_files():
        digest.update(file.relative_to(paths.root).as_posix().encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path_for(paths: ProjectPaths) -> Path:
    return paths.models / f"{MODEL_PREFIX}{fingerprint(paths)}.tar.gz"


def current_model(paths: ProjectPaths) -> Path | None:
    """The trained model matching the current training data, if there is one."""
    path = model_path_for(paths)
    return path if path.exists() else None


def prune_models(models_dir: Path, keep: int = MODELS_KEPT) -> list[Path]:
    """Delete all but the `keep` newest models of this project (each is ~30 MB and every change to the
    training data trains a new one); the ones kept can still be loaded with RASA_MODEL to roll back."""
    models = sorted(models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    removed = models[:-keep] if keep > 0 else models
    for model in removed:
        model.unlink(missing_ok=True)
    return removed


def train(paths: ProjectPaths, *, nlu_data: Path | None = None, output: Path | None = None) -> Path:
    """Train an NLU model with Rasa and return its path; also used for cross-validation folds."""
    from rasa.model_training import train_nlu

    out_dir = output or paths.models
    name = model_path_for(paths).name.removesuffix(".tar.gz") if output is None else "fold"
    started = time.perf_counter()
    with warnings.catch_warnings():
        for message in EXPECTED_TRAINING_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        result = train_nlu(
            config=str(paths.config),
            nlu_data=str(nlu_data or paths.nlu),
            output=str(out_dir),
            fixed_model_name=name,
            domain=str(paths.domain),
        )
    if result is None:
        raise RuntimeError("Rasa did not produce a model")
    log.info("Model trained in %.1f s: %s", time.perf_counter() - started, result)
    return Path(result)


def ensure_model(paths: ProjectPaths, *, announce: bool = True) -> Path:
    """The up-to-date model, training it first when the data has changed since the last one.

    A model that exists is returned without writing anything (models/ may be read-only where the bot
    runs). Processes that find none at the same moment (the test suite's workers, a bot and
    `make evaluate`) take turns through a lock file beside the models, so one of them trains and the
    others find its model when they get the lock: never two trainings of the same data fighting for the
    CPU and the same file. A model is trained into a folder of its own and moved into place whole, so
    no process ever reads half of one."""
    existing = current_model(paths)
    if existing is not None:
        return existing
    paths.models.mkdir(parents=True, exist_ok=True)
    with FileLock(paths.models / ".training.lock"):
        return current_model(paths) or _train_current(paths, announce=announce)


def _train_current(paths: ProjectPaths, *, announce: bool) -> Path:
    if announce:
        print(
            "No trained model matches the current nlu/, config.yml and domain.yml: "
            "training one now, this takes a minute or two...",
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix=".training-", dir=paths.models) as folder:
        model = train(paths, output=Path(folder)).replace(model_path_for(paths))
    if removed := prune_models(paths.models):
        log.info("Removed %d older models from %s", len(removed), paths.models)
    return model
