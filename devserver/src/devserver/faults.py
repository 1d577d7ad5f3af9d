"""Fault injection: the dev server makes Telegram misbehave on request (timeouts, errors, floods, blocks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from devserver.membership import migrated_error, removed_error
from devserver.records import Call
from devserver.spec import ApiRequestError, JsonDict, bad_request
from devserver.world import SimulatedWorld

FaultKind = Literal[
    "timeout",
    "server_error",
    "flood",
    "blocked",
    "network",
    "migrated",
    "chat_not_found",
    "kicked",
    "no_rights",
]


@dataclass
class Fault:
    """A planned misbehaviour; ``times`` None means until :meth:`BotApiServer.clear_faults`."""

    method: str
    kind: FaultKind
    chat_id: int | str | None = None
    times: int | None = 1
    retry_after: int = 1
    delay: float | None = None
    status: int = 500
    migrate_to: int | None = None

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


class FaultInjection(SimulatedWorld):
    """Planned misbehaviours, matched against each request before it is answered."""

    faults: list[Fault]
    timeout_fault_delay: float
    _closing: asyncio.Event

    def inject_fault(
        self,
        method: str,
        chat_id: int | str | None = None,
        kind: FaultKind = "server_error",
        times: int | None = 1,
        retry_after: int = 1,
        delay: float | None = None,
        status: int = 500,
        migrate_to: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` ("*" for any) in ``chat_id`` (None: any) fail.

        kinds: "timeout" holds the request ``delay`` seconds (default :attr:`timeout_fault_delay`), longer
        than the client waits, then drops it; "network" drops the connection unanswered; "server_error"
        answers ``status`` (500 or 502); "flood" answers 429 with ``retry_after``; "blocked" answers 403.
        As a group's state would (see ``migrate_group`` and ``set_bot_status``): "migrated" answers 400
        with ``migrate_to`` as parameters.migrate_to_chat_id, "chat_not_found" 400, "kicked" 403 and
        "no_rights" 400 (not enough rights to send text messages).
        """
        fault = Fault(method, kind, chat_id, times, retry_after, delay, status, migrate_to)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self.faults:
            if fault.matches(call.method, call.chat_id):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def _apply_fault(self, request: web.Request, call: Call, fault: Fault) -> web.StreamResponse:
        if fault.kind == "timeout":
            hold = self.timeout_fault_delay if fault.delay is None else fault.delay
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), hold)
        if fault.kind in ("timeout", "network"):
            call.error = f"connection dropped ({fault.kind} fault)"
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client: the connection is gone
        err = _fault_error(fault)
        return json_reply(call, err.error_code, err.envelope())


def _fault_error(fault: Fault) -> ApiRequestError:
    if fault.kind == "migrated":
        return migrated_error(fault.migrate_to if fault.migrate_to is not None else -1_001_999_999_999)
    if fault.kind == "chat_not_found":
        return bad_request("chat not found")
    if fault.kind == "kicked":
        return removed_error("kicked", "supergroup")
    if fault.kind == "no_rights":
        return bad_request("not enough rights to send text messages to the chat")
    if fault.kind == "flood":
        return ApiRequestError(
            429, f"Too Many Requests: retry after {fault.retry_after}", {"retry_after": fault.retry_after}
        )
    if fault.kind == "blocked":
        return ApiRequestError(403, "Forbidden: bot was blocked by the user")
    phrase = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return ApiRequestError(fault.status, phrase.get(fault.status, "Internal Server Error"))


def json_reply(call: Call, status: int, body: JsonDict) -> web.Response:
    call.status = status
    if not body.get("ok"):
        call.error = body.get("description")
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(), status=status, content_type="application/json"
    )
