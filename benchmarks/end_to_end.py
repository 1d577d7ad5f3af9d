"""End to end through the local Bot API server: a bot process (the echo bot, or parentbot with its NLU
in-process or behind RASA_URL) and simulated parents in this process; and the time from launching
`parentbot run` to its first answer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    Child,
    bot_env,
    child_process,
    cpu_seconds,
    machine_busy_seconds,
    memory_mb,
    stop,
)
from benchmarks.loadgen import Arrival, BenchServer, calibrate, run_load
from benchmarks.scenarios import Script, scripts_for
from bot.schools import load_schools
from bot.storage.database import scratch_schema

TOKEN = "424242:benchmark-token"  # noqa: S105 - the local server's made-up token
START_TIMEOUT = 300.0


@dataclass(frozen=True)
class LoadOptions:
    parents: int
    concurrency: int
    think: float
    throughput_concurrency: int
    experiments: str = ""
    """benchmarks/experiments.py: comma-separated names applied in the bot process"""
    database_url: str | None = None
    """the bot's database; None for a fresh SQLite file in the run's working directory"""


@contextmanager
def bot_database(workdir: Path, url: str | None) -> Iterator[str]:
    """A fresh SQLite file, or a fresh schema in the PostgreSQL database `url` (dropped afterwards)."""
    if url is None:
        yield f"sqlite:///{workdir}/bot.db"
    else:
        with scratch_schema(url, prefix="bench") as database:
            yield database


def _scripts(echo: bool) -> list[Script]:
    scripts = scripts_for(load_schools(ROOT / "schools.example.yml"))
    return [s.as_text_only() for s in scripts] if echo else scripts


async def bench_bot(
    label: str,
    workdir: Path,
    options: LoadOptions,
    *,
    echo: bool = False,
    model: Path | None = None,
    rasa: Child | None = None,
    rasa_url: str | None = None,
) -> dict[str, Any]:
    """Start the bot against a fresh local server, calibrate and warm up, then a latency run (parents
    pausing between messages, as people do) and a throughput run (no pauses)."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    schools = load_schools(ROOT / "schools.example.yml")
    server = BenchServer(TOKEN)
    with bot_database(workdir, None if echo else options.database_url) as database:
        async with server:
            for school in schools.schools:  # the case cards of the handoff flows go to these
                server.create_group(f"{school.name} staff", chat_id=school.staff_chat_id)
            nlu = {"RASA_URL": rasa_url} if rasa_url else {"RASA_MODEL": str(model)} if model else {}
            env = bot_env(
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_BASE_URL=server.base_url,
                DATABASE_URL=database,
                PYTHONPATH=str(ROOT),
                BENCH_EXPERIMENTS=options.experiments,
                **nlu,
            )
            module = "benchmarks.echo_bot" if echo else "benchmarks.bot_process"
            with child_process([PYTHON, "-m", module], workdir / "bot.log", env=env, cwd=workdir) as bot:
                ready = await server.wait_for_polling(lambda: bot.check_alive(label), START_TIMEOUT)
                print(f"  {label}: polling after {ready:.1f} s; calibrating", flush=True)
                scripts = _scripts(echo)
                started = time.perf_counter()
                expected = await calibrate(server, scripts)
                calibration_s = time.perf_counter() - started
                processes = {"bot": bot.pid}
                if rasa is not None:
                    processes["rasa"] = rasa.pid
                memory_before = memory_mb(bot.pid)

                print(
                    f"  {label}: latency run, {options.parents} parents, {options.concurrency} at once, "
                    f"~{options.think:g} s between messages",
                    flush=True,
                )
                latency = await run_load(
                    server,
                    scripts,
                    expected,
                    parents=options.parents,
                    concurrency=options.concurrency,
                    think=options.think,
                    processes=processes,
                )
                bot.check_alive(label)
                print(
                    f"  {label}: throughput run, {options.parents} parents, "
                    f"{options.throughput_concurrency} at once, no pauses",
                    flush=True,
                )
                throughput = await run_load(
                    server,
                    scripts,
                    expected,
                    parents=options.parents,
                    concurrency=options.throughput_concurrency,
                    think=0.0,
                    processes=processes,
                    seed=2,
                )
                bot.check_alive(label)
                memory_after = memory_mb(bot.pid)
                rasa_memory = memory_mb(rasa.pid) if rasa is not None else None
                await asyncio.to_thread(stop, bot)  # while the server still answers its last calls
                result: dict[str, Any] = {
                    "ready_s": round(ready, 1),
                    "calibration_s": round(calibration_s, 1),
                    "messages_per_script": expected,
                    "latency_run": latency.as_dict(),
                    "throughput_run": throughput.as_dict(),
                    "bot_memory_after_warm_up": memory_before,
                    "bot_memory": memory_after,
                }
                if rasa_memory is not None:
                    result["rasa_memory"] = rasa_memory
        return result


LOADED = re.compile(r"NLU model \S+ loaded in ([\d.]+) s")


async def _first_arrival(inbox: asyncio.Queue[Arrival], bot: Child, label: str) -> float:
    deadline = time.perf_counter() + START_TIMEOUT
    while True:
        try:
            arrived, _ = await asyncio.wait_for(inbox.get(), 0.5)
            return arrived
        except asyncio.TimeoutError:
            bot.check_alive(label)
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{label}: no answer within {START_TIMEOUT:.0f} s") from None


async def bench_startup(
    label: str, workdir: Path, *, rasa_url: str | None = None, experiments: str = ""
) -> dict[str, Any]:
    """Seconds from launching `parentbot run` (default settings: the current model, found or trained,
    loaded in-process; or RASA_URL) to its first reply to a /start sent right after the launch; and to
    its reply to a typed question (which needs the model) sent at the same moment by another parent."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    server = BenchServer(TOKEN)
    async with server:
        starter, asker = server.create_user("Early parent"), server.create_user("Early question")
        starter_inbox, asker_inbox = server.inbox(starter.id), server.inbox(asker.id)
        env = bot_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=server.base_url,
            DATABASE_URL=f"sqlite:///{workdir}/bot.db",
            **({"RASA_URL": rasa_url} if rasa_url else {}),
        )
        command = Path(PYTHON).with_name("parentbot")
        args = [str(command), "run"] if command.exists() else [PYTHON, "-m", "bot.cli", "run"]
        if experiments:  # the same command, after the experiments are applied
            env.update(PYTHONPATH=str(ROOT), BENCH_EXPERIMENTS=experiments)
            args = [PYTHON, "-m", "benchmarks.bot_process", "--parentbot-run"]
        machine_before = machine_busy_seconds()
        with child_process(args, workdir / "run.log", env=env, cwd=workdir) as bot:
            server.user_sends_text(starter, "/start")
            server.user_sends_text(asker, "can I post photos of the school play online?")
            first_answer = await _first_arrival(starter_inbox, bot, label) - bot.started
            bot_cpu = cpu_seconds(bot.pid)
            machine = machine_busy_seconds() - machine_before
            polling = min((c.time for c in server.calls if c.method == "getUpdates"), default=None)
            first_parsed = await _first_arrival(asker_inbox, bot, label) - bot.started
            memory = memory_mb(bot.pid)
            await asyncio.to_thread(stop, bot)
        log = (workdir / "run.log").read_text(errors="replace")
    loaded = LOADED.search(log)
    result: dict[str, Any] = {
        "first_answer_s": round(first_answer, 2),
        "first_typed_question_answer_s": round(first_parsed, 2),
        "model_load_s": float(loaded.group(1)) if loaded else None,
        "rss_mb_after_first_answers": memory["rss_mb"],
        "cpu_s_to_first_answer": round(bot_cpu, 1),
        "other_processes_cpu_s": round(machine - bot_cpu, 1),
    }
    if polling is not None:
        result["first_poll_after_s"] = round(polling - bot.started_wall, 2)
    return result
