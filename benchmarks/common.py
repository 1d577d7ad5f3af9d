"""Helpers every benchmark shares: percentiles, a process's CPU time and memory from /proc, and child
processes that are always stopped (SIGINT, then SIGKILL to their process group) however a run ends."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99 and max of durations given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "median_ms": round(percentile(seconds, 50) * 1000, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2) if seconds else math.nan,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- /proc ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()
    # after "pid (comm)": state is field 3, utime field 14, stime field 15 (1-based, as in proc(5))
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used since boot (every core), from /proc/stat: compared
    with our own processes' CPU time over a run, it shows whether something else was competing."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user and nice
    return (sum(fields) - idle - guest) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak so far (VmHWM), in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return {"rss_mb": round(values.get("VmRSS", math.nan), 1), "peak_rss_mb": round(values["VmHWM"], 1)}


# ---- child processes -------------------------------------------------------------------------------------


@dataclass
class Child:
    """A child process started by a benchmark; its output goes to `log`."""

    process: subprocess.Popen[bytes]
    log: Path
    started: float
    """time.perf_counter() at the launch"""
    started_wall: float
    """time.time() at the launch"""

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self, what: str) -> None:
        if not self.alive():
            raise RuntimeError(f"{what} exited with {self.process.returncode}:\n{self.tail()}")


def stop(child: Child, grace: float = 20.0) -> int | None:
    """SIGINT (a clean shutdown), then SIGKILL to the child's own process group after `grace` seconds."""
    process = child.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its group: start_new_session made pgid == pid
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    return process.returncode


@contextlib.contextmanager
def child_process(
    args: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Child]:
    """Start `args` in its own session (so it and anything it starts can be killed together); always
    stopped when the block ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started, started_wall = time.perf_counter(), time.time()
        process = subprocess.Popen(
            list(args), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    child = Child(process, log, started, started_wall)
    try:
        yield child
    finally:
        stop(child)


def bot_env(**extra: str) -> dict[str, str]:
    """The environment for a bot process: ours minus any Telegram or Rasa settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "RASA_", "WEBHOOK_", "DATABASE_"))
    }
    env.update(
        PROJECT_DIR=str(ROOT),
        SCHOOLS_FILE=str(ROOT / "schools.example.yml"),
        TF_CPP_MIN_LOG_LEVEL="3",
        RASA_TELEMETRY_ENABLED="false",  # loopback only: Rasa must not phone home
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env
