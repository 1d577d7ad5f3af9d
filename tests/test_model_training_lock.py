"""Processes that find no model at the same moment train it once between them (bot/nlu/model.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.nlu import model
from bot.nlu.model import ProjectPaths, ensure_model, model_path_for


def _project(root: Path) -> ProjectPaths:
    for name in ("config.yml", "domain.yml"):
        (root / name).write_text(f"# {name}\n")
    return ProjectPaths(root)


def test_two_starts_without_a_model_train_once_and_both_get_that_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _project(tmp_path)
    trainings: list[int] = []
    inside = threading.Event()

    def slow_training(paths: ProjectPaths, *, output: Path) -> Path:
        """Stands in for Rasa: writes the model file slowly, as a real training does at its end."""
        trainings.append(threading.get_ident())
        inside.set()
        target = output / "fold.tar.gz"
        with target.open("wb") as out:
            out.write(b"half")
            time.sleep(0.3)
            out.write(b" and the rest")
        return target

    monkeypatch.setattr(model, "train", slow_training)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(ensure_model, paths, announce=False)
        assert inside.wait(5)
        second = pool.submit(ensure_model, paths, announce=False)
        found = {first.result(timeout=10), second.result(timeout=10)}
    assert len(trainings) == 1
    assert found == {model_path_for(paths)}
    assert model_path_for(paths).read_bytes() == b"half and the rest"


def test_an_existing_model_is_returned_without_writing_anything(tmp_path: Path) -> None:
    """Where the bot runs, models/ may be read-only: finding the model must not need a lock file there."""
    paths = _project(tmp_path)
    paths.models.mkdir()
    model_path_for(paths).write_bytes(b"a model")
    assert ensure_model(paths, announce=False) == model_path_for(paths)
    assert sorted(p.name for p in paths.models.iterdir()) == [model_path_for(paths).name]
