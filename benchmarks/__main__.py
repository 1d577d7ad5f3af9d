"""Run every benchmark, print a table of the figures next to their targets, write benchmarks/results.json.

python -m benchmarks                       # all of it (what `make bench` runs, about 12 minutes)
python -m benchmarks --parents 200 --concurrency 50 --skip-training
python -m benchmarks --only nlu,startup    # some parts: training, nlu, echo, e2e, startup
python -m benchmarks --only e2e --skip-training --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.common import ROOT, bot_env
from benchmarks.end_to_end import LoadOptions, bench_bot, bench_startup
from benchmarks.experiments import EXPERIMENTS
from benchmarks.report import checks, table

PARTS = ("training", "nlu", "echo", "e2e", "startup")
RESULTS = Path(__file__).resolve().parent / "results.json"
EXPERIMENT_RESULTS = RESULTS.with_name("results-experiments.json")
E2E_TIMEOUT = 900.0
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parents", type=int, default=200, help="simulated parents per run (200)")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="parents in conversation at once in the latency run (50)"
    )
    parser.add_argument(
        "--throughput-concurrency",
        type=int,
        default=None,
        help="parents at once in the throughput run (default: --concurrency)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a parent pauses before each message in the latency run (1.0; 0.5x-1.5x)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the parse-latency messages (3)")
    parser.add_argument("--skip-training", action="store_true", help="leave out the cold training (~4 min)")
    parser.add_argument("--only", default=None, help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
    parser.add_argument(
        "--experiment",
        default="",
        help="proposed fixes to apply in the bot process, comma-separated, of: "
        f"{', '.join(EXPERIMENTS)} (see benchmarks/experiments.py; results go to results-experiments.json)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the bot's database in the end-to-end runs (default: a fresh SQLite file); a PostgreSQL URL "
        "gets a fresh schema for each run, dropped afterwards",
    )
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes (results.json)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    return parser


def _model() -> Path:
    """The model of the current data (trained first, as `make run` would, when there is none)."""
    import subprocess

    from bot.nlu.model import ProjectPaths, current_model

    model = current_model(ProjectPaths(ROOT))
    if model is None:
        print("No model matches the current data: training one first (parentbot train)...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "train"], cwd=ROOT, env=bot_env(), check=True, timeout=1800
        )
        model = current_model(ProjectPaths(ROOT))
        assert model is not None
    return model


def _code_version() -> dict[str, Any]:
    """The commit measured, and the files that differ from it (the figures are of the working tree)."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = git("status", "--porcelain", "--", "bot", "nlu", "config.yml", "domain.yml").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": [c[3:] for c in changed]}


def _shown(database_url: str | None) -> str:
    """The database for the results file, without its password."""
    if database_url is None:
        return "sqlite (a fresh file per run)"
    from bot.storage.database import redacted

    return redacted(database_url)


def _attempt(results: dict[str, Any], key: str, run: Callable[[], T]) -> T | None:
    """Run one part; a failure is recorded (and printed) and the other parts still run."""
    started = time.perf_counter()
    try:
        value = run()
    except Exception as error:  # noqa: BLE001 - one failed part must not lose the others
        traceback.print_exc()
        results.setdefault("errors", {})[key] = f"{type(error).__name__}: {error}"[:2000]
        return None
    print(f"  ({key}: {time.perf_counter() - started:.0f} s)", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = set(PARTS) if args.only is None else {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        print(f"unknown parts: {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})", file=sys.stderr)
        return 2
    if args.skip_training:
        parts.discard("training")
    experiments = ",".join(e.strip() for e in args.experiment.split(",") if e.strip())
    if unknown := set(filter(None, experiments.split(","))) - set(EXPERIMENTS):
        print(f"unknown experiments: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    output = args.output or (EXPERIMENT_RESULTS if experiments else RESULTS)
    options = LoadOptions(
        parents=args.parents,
        concurrency=args.concurrency,
        think=args.think,
        throughput_concurrency=args.throughput_concurrency or args.concurrency,
        experiments=experiments,
        database_url=args.database_url,
    )
    started = time.perf_counter()
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "code": _code_version(),
        "options": {
            **asdict(options),
            "database_url": _shown(options.database_url),
            "rounds": args.rounds,
            "parts": sorted(parts),
        },
    }
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="parentbot-bench-"))
        if not args.keep:
            import shutil

            stack.callback(shutil.rmtree, workdir, True)
        print(f"Working directory: {workdir}", flush=True)
        _run_parts(parts, options, args, workdir, results, stack)
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["checks"] = checks(results)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nResults written to {output} ({results['total_s']:.0f} s in all)")
    return 1 if results.get("errors") else 0


def _cpu_model() -> str:
    """The processor's name (parse latency is the encoder's arithmetic: it differs ~2x between CPUs)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _measure(results: dict[str, Any], section: str, mode: str, title: str, run: Callable[[], Any]) -> None:
    """Run one measurement and file it under results[section][mode] (None when it failed)."""
    print(f"{title}...", flush=True)
    results.setdefault(section, {})[mode] = _attempt(results, f"{section} {mode}", run)


def _bot_run(label: str, workdir: Path, options: LoadOptions, **bot: Any) -> Callable[[], dict[str, Any]]:
    """An end-to-end run of one bot (benchmarks.end_to_end.bench_bot), with its time limit."""
    return lambda: asyncio.run(asyncio.wait_for(bench_bot(label, workdir, options, **bot), E2E_TIMEOUT))


def _run_parts(
    parts: set[str],
    options: LoadOptions,
    args: argparse.Namespace,
    workdir: Path,
    results: dict[str, Any],
    stack: ExitStack,
) -> None:
    from benchmarks import nlu_latency, training

    if "training" in parts:
        print("Cold training (fresh working directory, no Rasa cache)...", flush=True)
        results["training"] = _attempt(results, "training", lambda: training.cold_training(workdir / "train"))
    model = _model()
    results["model"] = model.name
    experiments = options.experiments

    if "echo" in parts:
        _measure(
            results,
            "end_to_end",
            "echo",
            "End to end, the empty echo bot (the harness's own limits)",
            _bot_run("echo bot", workdir / "echo", options, echo=True),
        )
    if "nlu" in parts:
        _measure(
            results,
            "nlu",
            "in_process",
            "NLU parse latency in-process",
            lambda: nlu_latency.in_process(model, args.rounds, workdir / "nlu.log", experiments),
        )
    if "e2e" in parts:
        _measure(
            results,
            "end_to_end",
            "in_process",
            "End to end, parentbot with the model in-process",
            _bot_run("parentbot in-process", workdir / "inproc", options, model=model),
        )
    if "startup" in parts:
        _measure(
            results,
            "startup",
            "in_process",
            "Start to first answer, `parentbot run` with the model in-process",
            lambda: asyncio.run(bench_startup("parentbot run", workdir / "up1", experiments=experiments)),
        )
    if not parts & {"nlu", "e2e", "startup"}:
        return

    print("Starting `rasa run --enable-api` with the same model...", flush=True)
    server = _attempt(
        results, "rasa server", lambda: stack.enter_context(nlu_latency.rasa_server(model, workdir / "rasa"))
    )
    if server is None:
        return
    rasa, url, ready = server
    results["rasa_server"] = {"ready_s": round(ready, 1)}
    if "nlu" in parts:
        _measure(
            results,
            "nlu",
            "rasa_url",
            "NLU parse latency through RASA_URL",
            lambda: asyncio.run(nlu_latency.through_http(url, args.rounds)),
        )
    if "e2e" in parts:
        _measure(
            results,
            "end_to_end",
            "rasa_url",
            "End to end, parentbot with RASA_URL",
            _bot_run("parentbot RASA_URL", workdir / "http", options, rasa=rasa, rasa_url=url),
        )
    if "startup" in parts:
        _measure(
            results,
            "startup",
            "rasa_url",
            "Start to first answer, `parentbot run` with RASA_URL",
            lambda: asyncio.run(
                bench_startup(
                    "parentbot run (RASA_URL)", workdir / "up2", rasa_url=url, experiments=experiments
                )
            ),
        )


if __name__ == "__main__":
    raise SystemExit(main())
