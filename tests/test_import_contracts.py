"""The import contracts of pyproject.toml ([tool.importlinter], run by `make lint`) catch what they are
for: a copy of bot/ keeps them, and the same copy with one module of the staff policy importing
python-telegram-bot breaks them, naming the contract that says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _only_python(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if not name.endswith(".py") and not (Path(folder) / name).is_dir()}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the copy at `root` (found first on the path), with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}  # one line per contract
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_staff_policy_module_importing_telegram_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=_only_python)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    (tmp_path / "bot" / "staff" / "leak.py").write_text("from telegram import Bot\n")
    broken = _lint_imports(tmp_path)

    assert broken.returncode != 0
    assert "python-telegram-bot only in the Telegram channel BROKEN" in broken.stdout
    assert "bot.staff.leak -> telegram" in broken.stdout
