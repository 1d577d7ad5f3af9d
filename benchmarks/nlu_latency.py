"""NLU parse latency: the model loaded in-process (in a child process of its own, so the 1 GB model
stays out of the harness), and the same model behind `rasa run --enable-api` through RASA_URL.

    python -m benchmarks.nlu_latency MODEL [--rounds 3]     # the in-process half; prints JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import ROOT, Child, bot_env, child_process, free_port, summary_ms
from benchmarks.scenarios import FLOWS

DEV_SET = ROOT / "tests" / "data" / "nlu_dev.tsv"
WARM_UP = 10


def messages() -> list[str]:
    """Parents' messages not in the training data (the development set when it is there), plus the typed
    messages of the benchmark's conversations."""
    texts = []
    if DEV_SET.exists():
        for line in DEV_SET.read_text(encoding="utf-8").splitlines():
            _, _, text = line.partition("\t")
            if text.strip():
                texts.append(text.strip())
    texts += [step.text for steps in FLOWS.values() for step in steps if step.kind == "say"]
    return [t for t in texts if not t.startswith("/")]


async def time_parses(parse: Any, texts: Sequence[str], rounds: int) -> dict[str, Any]:
    """Each text parsed `rounds` times, one at a time, after a few warm-up parses."""
    for text in texts[:WARM_UP]:
        await parse(text)
    durations = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            await parse(text)
            durations.append(time.perf_counter() - started)
    return summary_ms(durations)


def _in_process(model: Path, rounds: int) -> dict[str, Any]:
    from benchmarks.experiments import apply
    from bot.logs import configure_logging
    from bot.nlu.client import InProcessNlu

    configure_logging()
    apply()
    head = _time_danger_head()
    nlu = InProcessNlu.load(model)
    texts = messages()
    result = asyncio.run(time_parses(nlu.parse, texts, rounds))
    return {
        **result,
        "load_s": round(nlu.load_seconds, 1),
        **_gate_cost(head, texts, rounds),
    }


def _time_danger_head() -> list[float]:
    """From now on, the danger head's own time inside each parse (the DangerClassifier component, timed
    around its `process`). Before the model loads: Rasa's graph keeps the bound method it found then."""
    from bot.nlu.components.danger_classifier import DangerClassifier

    durations: list[float] = []
    original = DangerClassifier.process

    def timed(self: DangerClassifier, messages: list[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return original(self, messages)
        finally:
            durations.append(time.perf_counter() - started)

    DangerClassifier.process = timed  # type: ignore[method-assign]
    return durations


def _gate_cost(head: list[float], texts: Sequence[str], rounds: int) -> dict[str, Any]:
    """What the safeguarding gate adds to a parse: the danger head's time, and the lexicon's."""
    from bot.safeguarding.gate import DangerGate

    gate = DangerGate()
    lexicon = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            gate.detector.kinds(text)
            lexicon.append(time.perf_counter() - started)
    head_ms, lexicon_ms = summary_ms(head), summary_ms(lexicon)
    return {
        "danger_head_median_ms": head_ms["median_ms"],
        "danger_head_p95_ms": head_ms["p95_ms"],
        "lexicon_median_ms": lexicon_ms["median_ms"],
        "gate_median_ms": round(head_ms["median_ms"] + lexicon_ms["median_ms"], 2),
    }


def in_process(model: Path, rounds: int, log: Path, experiments: str = "") -> dict[str, Any]:
    """Run the in-process measurement in a child process; its JSON is the last line of its output."""
    import subprocess

    env = bot_env(PYTHONPATH=str(ROOT), BENCH_EXPERIMENTS=experiments)
    args = [sys.executable, "-m", "benchmarks.nlu_latency", str(model), "--rounds", str(rounds)]
    with log.open("w") as out:
        done = subprocess.run(
            args, env=env, stdout=subprocess.PIPE, stderr=out, text=True, timeout=600, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"in-process NLU benchmark failed:\n{log.read_text()[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def rasa_server(model: Path, workdir: Path, timeout: float = 300.0) -> Iterator[tuple[Child, str, float]]:
    """`rasa run --enable-api` with `model` on a loopback port; yields (process, url, seconds to ready)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    rasa = Path(sys.executable).with_name("rasa")
    args = [str(rasa), "run", "--enable-api", "-m", str(model), "-i", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with child_process(args, workdir / "rasa.log", env=bot_env(), cwd=workdir) as server:
        deadline = time.perf_counter() + timeout
        while True:
            server.check_alive("rasa run")
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(f"{url}/status", timeout=2.0)
                if status.status_code == 200 and status.json().get("model_file"):
                    break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"rasa run did not answer /status within {timeout:.0f} s")
            time.sleep(0.25)
        yield server, url, time.perf_counter() - server.started


async def through_http(url: str, rounds: int) -> dict[str, Any]:
    from bot.nlu.client import HttpNlu

    nlu = HttpNlu(url)
    try:
        return await time_parses(nlu.parse, messages(), rounds)
    finally:
        await nlu.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nlu_latency")
    parser.add_argument("model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = _in_process(args.model, args.rounds)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
