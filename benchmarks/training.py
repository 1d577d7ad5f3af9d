"""Cold training: the model trained from the project's data in a fresh working directory (Rasa keeps a
training cache in .rasa/ of the working directory, which would make a second training a warm one), timed
and with the peak memory of the training process.

    python -m benchmarks.training PROJECT_COPY OUTPUT_DIR     # the training itself; prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, bot_env
from bot.nlu.model import ProjectPaths

TIMEOUT = 1200.0


def _train(project: Path, output: Path) -> dict[str, Any]:
    from bot.logs import configure_logging
    from bot.nlu.model import train

    configure_logging()
    started = time.perf_counter()
    model = train(ProjectPaths(project), output=output)
    return {"train_nlu_s": round(time.perf_counter() - started, 1), "model_mb": model.stat().st_size / 2**20}


def cold_training(workdir: Path) -> dict[str, Any]:
    """Copy what `parentbot train` reads (nlu/, the danger corpus, config.yml, domain.yml) to `workdir`,
    train there in a child process, and report the wall time from launch to exit and the child's peak
    resident memory (getrusage via wait4). Without the danger corpus the danger head is not trained and
    the figures flatter the real training by about 4x."""
    project = workdir / "project"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    shutil.copytree(ROOT / "nlu", project / "nlu")
    corpus = ProjectPaths(ROOT).danger_corpus
    shutil.copytree(corpus, project / corpus.relative_to(ROOT))
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(ROOT / name, project / name)
    env = bot_env(PYTHONPATH=str(ROOT), RASA_CACHE_DIRECTORY=str(project / ".rasa" / "cache"))
    args = [sys.executable, "-m", "benchmarks.training", str(project), str(workdir / "out")]
    log = workdir / "training.log"
    with log.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
        watchdog = threading.Timer(TIMEOUT, lambda: os.killpg(process.pid, 9))
        watchdog.start()
        try:
            assert process.stdout is not None
            output = process.stdout.read().decode()
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"training failed ({process.returncode}):\n{log.read_text()[-3000:]}")
    inner = json.loads(output.strip().splitlines()[-1])
    return {
        "wall_s": round(wall, 1),
        "train_nlu_s": inner["train_nlu_s"],
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # kB on Linux
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "model_mb": round(inner["model_mb"], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training")
    parser.add_argument("project", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    print(json.dumps(_train(args.project, args.output)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
