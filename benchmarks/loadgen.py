"""Simulated parents talking to a bot through the local Bot API server, timed from each update to the
bot's reply.

The harness must be much cheaper than the bot it measures, so the server is the dev server with its
per-object API checks off, and each bot message is handed to the waiting parent through a queue per chat
(one append per message, instead of rescanning every call the server has seen).
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import cpu_seconds, machine_busy_seconds, summary_ms
from benchmarks.scenarios import Script
from devserver import BotApiServer, SimUser

JsonDict = dict[str, Any]
Arrival = tuple[float, JsonDict]
STEP_TIMEOUT = 60.0
QUIET = 0.6
"""Calibration: an answer is complete when the bot has sent nothing more to the parent for this long."""


class BenchServer(BotApiServer):
    """The dev Bot API server, noting when each of the bot's messages arrives, per chat."""

    def __init__(self, token: str) -> None:
        super().__init__(token=token, check_results=False)
        self._inboxes: dict[int, asyncio.Queue[Arrival]] = {}

    def inbox(self, chat_id: int) -> asyncio.Queue[Arrival]:
        return self._inboxes.setdefault(chat_id, asyncio.Queue())

    async def _send_message(self, params: JsonDict) -> JsonDict:
        message = await super()._send_message(params)
        queue = self._inboxes.get(message["chat"]["id"])
        if queue is not None:
            queue.put_nowait((time.perf_counter(), message))
        return message

    async def wait_for_polling(self, check_alive: Any, timeout: float) -> float:
        """Seconds until the bot first asks for updates (its handlers are in place by then)."""
        started = time.perf_counter()
        while not any(call.method == "getUpdates" for call in self.calls):
            check_alive()
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the bot did not start polling within {timeout:.0f} s")
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


class ScriptError(Exception):
    """The bot's answer was not what the script expected (no such button, nothing within the timeout)."""


@dataclass
class StepTiming:
    kind: str
    first: float
    """Seconds from the update to the bot's first message in answer."""
    complete: float
    """... to its last message in answer."""
    messages: int


@dataclass
class Conversation:
    script: str
    steps: list[StepTiming] = field(default_factory=list)
    error: str | None = None
    unexpected: int = 0
    """Messages that arrived beyond the calibrated answer (none when the script fits the bot)."""


def _find_button(answer: Sequence[JsonDict], title: str) -> tuple[JsonDict, str]:
    for message in reversed(answer):
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if button.get("text") == title and "callback_data" in button:
                    return message, str(button["callback_data"])
    offered = [
        b.get("text")
        for m in answer
        for row in m.get("reply_markup", {}).get("inline_keyboard", [])
        for b in row
    ]
    raise ScriptError(f"no button {title!r} in the answer (buttons: {offered})")


async def _collect_until_quiet(inbox: asyncio.Queue[Arrival], timeout: float) -> list[Arrival]:
    arrivals = [await asyncio.wait_for(inbox.get(), timeout)]
    while True:
        try:
            arrivals.append(await asyncio.wait_for(inbox.get(), QUIET))
        except asyncio.TimeoutError:
            return arrivals


async def converse(
    server: BenchServer,
    user: SimUser,
    script: Script,
    expected: Sequence[int] | None,
    *,
    think: float = 0.0,
    rng: random.Random | None = None,
) -> Conversation:
    """One parent going through `script`. With `expected` (messages per step, from calibration) each step
    waits for exactly that many messages; without, until the bot goes quiet."""
    inbox = server.inbox(user.id)
    conversation = Conversation(script.name)
    answer: list[JsonDict] = []
    rng = rng or random.Random()  # noqa: S311 - think times, not secrets
    try:
        for index, step in enumerate(script.steps):
            if think > 0:
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            if step.kind == "say":
                sent = time.perf_counter()
                server.user_sends_text(user, step.text)
            else:
                message, data = _find_button(answer, step.text)
                sent = time.perf_counter()
                server.user_presses_button(user, message, data)
            try:
                if expected is None:
                    arrivals = await _collect_until_quiet(inbox, STEP_TIMEOUT)
                else:
                    arrivals = [
                        await asyncio.wait_for(inbox.get(), STEP_TIMEOUT) for _ in range(expected[index])
                    ]
            except asyncio.TimeoutError:
                raise ScriptError(f"step {index} ({step.kind} {step.text!r}): no answer in time") from None
            answer = [message for _, message in arrivals]
            conversation.steps.append(
                StepTiming(step.kind, arrivals[0][0] - sent, arrivals[-1][0] - sent, len(arrivals))
            )
    except ScriptError as error:
        conversation.error = f"{script.name}: {error}"
    conversation.unexpected = inbox.qsize()
    return conversation


async def calibrate(server: BenchServer, scripts: Sequence[Script]) -> dict[str, list[int]]:
    """How many messages the bot sends in answer to each step of each script (one parent per script, all
    at once); also the bot's warm-up. Raises ScriptError when a script does not fit the bot."""
    users = [server.create_user(f"Calibration {n}") for n in range(len(scripts))]
    conversations = await asyncio.gather(
        *(converse(server, user, script, None) for user, script in zip(users, scripts, strict=True))
    )
    errors = [c.error for c in conversations if c.error]
    if errors:
        raise ScriptError("; ".join(errors))
    return {c.script: [step.messages for step in c.steps] for c in conversations}


@dataclass
class LoadResult:
    parents: int
    concurrency: int
    think_s: float
    conversations: list[Conversation]
    wall_s: float
    process_cpu_s: dict[str, float]
    harness_cpu_s: float
    machine_cpu_s: float

    def as_dict(self) -> JsonDict:
        steps = [s for c in self.conversations for s in c.steps]
        answered = len(steps)
        messages = sum(s.messages for s in steps)
        errors = [c.error for c in self.conversations if c.error]
        result: JsonDict = {
            "parents": self.parents,
            "concurrency": self.concurrency,
            "think_s": self.think_s,
            "updates_answered": answered,
            "bot_messages": messages,
            "failed_conversations": len(errors),
            "unexpected_messages": sum(c.unexpected for c in self.conversations),
            "errors": errors[:5],
            "wall_s": round(self.wall_s, 2),
            "answered_per_s": round(answered / self.wall_s, 1),
            "bot_messages_per_s": round(messages / self.wall_s, 1),
            "latency_first_reply": summary_ms([s.first for s in steps]),
            "latency_full_answer": summary_ms([s.complete for s in steps]),
            "latency_first_reply_typed": summary_ms([s.first for s in steps if s.kind == "say"]),
            "latency_first_reply_button": summary_ms([s.first for s in steps if s.kind == "press"]),
            "harness_cpu_ms_per_update": round(self.harness_cpu_s / max(answered, 1) * 1000, 3),
            "other_processes_cpu_s": round(
                self.machine_cpu_s - self.harness_cpu_s - sum(self.process_cpu_s.values()), 1
            ),
        }
        for name, seconds in self.process_cpu_s.items():
            result[f"{name}_cpu_s"] = round(seconds, 2)
            result[f"{name}_cpu_ms_per_update"] = round(seconds / max(answered, 1) * 1000, 3)
        return result


def _harness_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(
    server: BenchServer,
    scripts: Sequence[Script],
    expected: dict[str, list[int]],
    *,
    parents: int,
    concurrency: int,
    think: float,
    processes: dict[str, int],
    seed: int = 1,
) -> LoadResult:
    """`parents` parents, script by script in turn, at most `concurrency` in conversation at once (each
    pausing `think` seconds on average before each step). CPU time of `processes` (name: pid) is measured
    over the run."""
    users = [server.create_user(f"Parent {n}") for n in range(parents)]
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int, user: SimUser) -> Conversation:
        script = scripts[number % len(scripts)]
        async with gate:
            rng = random.Random(seed * 100_003 + number)  # noqa: S311
            return await converse(server, user, script, expected[script.name], think=think, rng=rng)

    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    harness_before = _harness_cpu()
    machine_before = machine_busy_seconds()
    started = time.perf_counter()
    conversations = await asyncio.gather(*(one(n, user) for n, user in enumerate(users)))
    wall = time.perf_counter() - started
    harness = _harness_cpu() - harness_before
    machine = machine_busy_seconds() - machine_before
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    return LoadResult(parents, concurrency, think, list(conversations), wall, cpu, harness, machine)
