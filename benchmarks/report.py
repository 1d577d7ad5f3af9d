"""The performance targets (README, docs/performance.md) checked against a run's results, and the table
printed at the end."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]
MODES = ("echo", "in_process", "rasa_url")
HEADERS = ("figure", "echo bot", "in-process", "RASA_URL", "target", "result")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return data


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    value: Callable[[JsonDict, str], Any]
    """(results, mode) -> the figure, or None when not measured"""
    target: float | None = None
    at_most: bool = True
    checked: tuple[str, ...] = ("in_process", "rasa_url")
    digits: int = 1


def _e2e(run: str, *path: str) -> Callable[[JsonDict, str], Any]:
    return lambda results, mode: _get(results, "end_to_end", mode, run, *path)


def _bot(*path: str) -> Callable[[JsonDict, str], Any]:
    return lambda results, mode: _get(results, "end_to_end", mode, *path)


def _sum_cpu(run: str) -> Callable[[JsonDict, str], Any]:
    def value(results: JsonDict, mode: str) -> Any:
        bot = _get(results, "end_to_end", mode, run, "bot_cpu_ms_per_update")
        rasa = _get(results, "end_to_end", mode, run, "rasa_cpu_ms_per_update") or 0.0
        return None if bot is None else bot + rasa

    return value


def _only(mode: str, value: Callable[[JsonDict], Any]) -> Callable[[JsonDict, str], Any]:
    return lambda results, wanted: value(results) if wanted == mode else None


def _figures(results: JsonDict) -> list[Figure]:
    concurrency = _get(results, "options", "concurrency")
    tput = _get(results, "options", "throughput_concurrency")
    return [
        Figure(
            "NLU parse, median",
            "ms",
            lambda r, m: _get(r, "nlu", m, "median_ms"),
            10,
            checked=("in_process",),
        ),
        Figure("NLU parse, p95", "ms", lambda r, m: _get(r, "nlu", m, "p95_ms")),
        Figure(
            "safeguarding gate's share of a parse, median",
            "ms",
            lambda r, m: _get(r, "nlu", m, "gate_median_ms"),
            2,
            checked=("in_process",),
        ),
        Figure(
            f"update to first reply, median ({concurrency} parents)",
            "ms",
            _e2e("latency_run", "latency_first_reply", "median_ms"),
        ),
        Figure(
            f"update to first reply, p95 ({concurrency} parents)",
            "ms",
            _e2e("latency_run", "latency_first_reply", "p95_ms"),
            100,
        ),
        Figure(
            f"update to first reply, p99 ({concurrency} parents)",
            "ms",
            _e2e("latency_run", "latency_first_reply", "p99_ms"),
        ),
        Figure(
            f"update to whole answer, p95 ({concurrency} parents)",
            "ms",
            _e2e("latency_run", "latency_full_answer", "p95_ms"),
        ),
        Figure(
            f"answered messages per second ({tput} at once)",
            "/s",
            _e2e("throughput_run", "answered_per_s"),
            100,
            False,
        ),
        Figure(
            f"update to first reply, p95 (saturated, {tput} at once)",
            "ms",
            _e2e("throughput_run", "latency_first_reply", "p95_ms"),
        ),
        Figure("bot messages sent per second", "/s", _e2e("throughput_run", "bot_messages_per_s")),
        Figure(
            f"CPU per answered message, bot ({concurrency} parents)",
            "ms",
            _e2e("latency_run", "bot_cpu_ms_per_update"),
            digits=2,
        ),
        Figure(
            f"CPU per answered message, bot + Rasa server ({concurrency} parents)",
            "ms",
            _sum_cpu("latency_run"),
            digits=2,
        ),
        Figure(
            "CPU per answered message, bot (saturated)",
            "ms",
            _e2e("throughput_run", "bot_cpu_ms_per_update"),
            digits=2,
        ),
        Figure(
            "CPU per message, harness (parents + local server)",
            "ms",
            _e2e("latency_run", "harness_cpu_ms_per_update"),
            digits=2,
        ),
        Figure("steady RSS of the bot after the runs", "MB", _bot("bot_memory", "rss_mb"), 1200, digits=0),
        Figure("peak RSS of the bot", "MB", _bot("bot_memory", "peak_rss_mb"), digits=0),
        Figure("RSS of the Rasa server after the runs", "MB", _bot("rasa_memory", "rss_mb"), digits=0),
        Figure(
            "start to first answer (/start, `parentbot run`)",
            "s",
            lambda r, m: _get(r, "startup", m, "first_answer_s"),
            20,
        ),
        Figure(
            "  CPU time of the bot until then",
            "s",
            lambda r, m: _get(r, "startup", m, "cpu_s_to_first_answer"),
        ),
        Figure(
            "start to first answer to a typed question",
            "s",
            lambda r, m: _get(r, "startup", m, "first_typed_question_answer_s"),
        ),
        Figure("  of which loading the model", "s", lambda r, m: _get(r, "startup", m, "model_load_s")),
        Figure(
            "Rasa server start to ready", "s", _only("rasa_url", lambda r: _get(r, "rasa_server", "ready_s"))
        ),
        Figure(
            "model training, cold (wall)", "s", _only("in_process", lambda r: _get(r, "training", "wall_s"))
        ),
        Figure(
            "peak memory of training",
            "MB",
            _only("in_process", lambda r: _get(r, "training", "peak_rss_mb")),
            digits=0,
        ),
    ]


def _passes(figure: Figure, value: float) -> bool:
    assert figure.target is not None
    return value <= figure.target if figure.at_most else value >= figure.target


def checks(results: JsonDict) -> list[JsonDict]:
    """Every measured figure that has a target, with PASS or MISS."""
    found = []
    for figure in _figures(results):
        if figure.target is None:
            continue
        for mode in figure.checked:
            value = figure.value(results, mode)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            found.append(
                {
                    "figure": figure.name,
                    "mode": mode,
                    "value": value,
                    "unit": figure.unit,
                    "target": f"{'<=' if figure.at_most else '>='} {figure.target:g} {figure.unit}",
                    "pass": _passes(figure, value),
                }
            )
    return found


def _cell(value: Any, figure: Figure) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    number = f"{value:,.{figure.digits}f}"
    return f"{number} {figure.unit}" if figure.unit != "/s" else f"{number}/s"


def _rows(results: JsonDict) -> list[tuple[str, ...]]:
    rows = []
    for figure in _figures(results):
        values = {mode: figure.value(results, mode) for mode in MODES}
        if all(_cell(v, figure) == "" for v in values.values()):
            continue
        target, verdict = "", ""
        if figure.target is not None:
            unit = figure.unit if figure.unit == "/s" else f" {figure.unit}"
            target = f"{'≤' if figure.at_most else '≥'} {figure.target:g}{unit}"
            marks = []
            for mode in figure.checked:
                text = _cell(values[mode], figure)
                if text:
                    marks.append("PASS" if _passes(figure, values[mode]) else "MISS")
            verdict = " / ".join(marks)
        rows.append((figure.name, *(_cell(values[m], figure) for m in MODES), target, verdict))
    return rows


def _other_cpu(results: JsonDict) -> dict[str, float] | None:
    """CPU time other processes (not the bot, the Rasa server or the harness) used during the load runs."""
    cpu = wall = 0.0
    for mode in MODES:
        for run in ("latency_run", "throughput_run"):
            data = _get(results, "end_to_end", mode, run)
            if data:
                cpu += data.get("other_processes_cpu_s", 0.0)
                wall += data.get("wall_s", 0.0)
    return {"cpu_s": max(cpu, 0.0), "wall_s": wall} if wall else None


def table(results: JsonDict) -> str:
    rows = [HEADERS, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:-2], widths[1:-2], strict=True))]
        cells += [row[-2].ljust(widths[-2]), row[-1]]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    think = _get(results, "options", "think") or 0
    notes = [
        "result: PASS/MISS for each measured column the target applies to (in-process / RASA_URL).",
        f"Latency runs: parents pause ~{think:g} s (0.5-1.5x) before each message; throughput runs: none.",
        f"The bot's database: {_get(results, 'options', 'database_url') or 'sqlite'}.",
        f"Machine: {_get(results, 'machine', 'cpu_model') or 'unknown CPU'}, "
        f"{_get(results, 'machine', 'cpus')} CPUs, load average at start "
        f"{(_get(results, 'machine', 'load_average_at_start') or [0.0])[0]:.1f}.",
    ]
    busy = _other_cpu(results)
    if busy:
        notes.append(
            f"Other processes on the machine used {busy['cpu_s']:.0f} CPU-s during the "
            f"{busy['wall_s']:.0f} s of end-to-end runs "
            f"({busy['cpu_s'] / busy['wall_s']:.2f} cores on average): "
            "the figures are pessimistic when that is far from 0."
        )
    for name, error in (results.get("errors") or {}).items():
        notes.append(f"FAILED {name}: {error.splitlines()[0] if error else ''}")
    return "\n".join([*lines, "", *notes])
