"""Stock Rasa tooling works on the repository as it stands, and the model cache follows the data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.nlu.model import ProjectPaths, fingerprint, model_path_for, prune_models

ROOT = Path(__file__).resolve().parent.parent


def test_rasa_data_validate_passes_with_the_project_paths() -> None:
    rasa = Path(sys.executable).parent / "rasa"
    result = subprocess.run(
        [str(rasa), "data", "validate", "--data", "nlu", "--domain", "domain.yml", "--config", "config.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def _copy_project(tmp_path: Path) -> ProjectPaths:
    for name in ("nlu", "data", "config.yml", "domain.yml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    return ProjectPaths(tmp_path)


def test_model_name_changes_when_training_data_changes(tmp_path: Path) -> None:
    paths = _copy_project(tmp_path)
    before = model_path_for(paths)
    assert fingerprint(paths) == fingerprint(ProjectPaths(ROOT))
    with (paths.nlu / "conversation.yml").open("a") as file:
        file.write("    - hiya there pal\n")
    assert model_path_for(paths) != before


def test_model_name_changes_when_config_or_domain_changes(tmp_path: Path) -> None:
    paths = _copy_project(tmp_path)
    before = fingerprint(paths)
    paths.config.write_text(paths.config.read_text().replace("max_iter:", "max_iter: 1 #"))
    assert fingerprint(paths) != before


def test_only_the_newest_models_are_kept(tmp_path: Path) -> None:
    models = [tmp_path / f"nlu-{n:016x}.tar.gz" for n in range(5)]
    for age, model in enumerate(models):  # models[0] is the newest
        model.write_bytes(b"model")
        os.utime(model, (1_700_000_000 - age * 60, 1_700_000_000 - age * 60))
    other = tmp_path / "someone-elses.tar.gz"
    other.write_bytes(b"not ours")

    removed = prune_models(tmp_path, keep=3)

    assert sorted(removed) == sorted(models[3:])
    assert sorted(tmp_path.iterdir()) == sorted([*models[:3], other])
