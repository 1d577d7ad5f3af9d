"""What the bot did, as tests read it: its calls, its messages and pins, and waits for a call, a message
or the bot's own "update handled" signal, so that no test has to sleep through a quiet period."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import TypeVar

from devserver.records import Call
from devserver.spec import JsonDict
from devserver.world import SimulatedWorld

_T = TypeVar("_T")


class BotActivity(SimulatedWorld):
    """The bot's calls and messages, and the waits on them; every wait re-checks after each call."""

    def calls_to(self, method: str, chat_id: int | str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower() and _chat_matches(c, chat_id)]

    def sent_messages(self, chat_id: int) -> list[JsonDict]:
        """The bot's messages in this chat as they are now (edited, deleted ones gone), oldest first."""
        ids = self._bot_messages.get(chat_id, [])
        return [copy.deepcopy(self._messages[(chat_id, i)]) for i in ids if (chat_id, i) in self._messages]

    def pinned_messages(self, chat_id: int) -> list[int]:
        return list(self._pinned.get(chat_id, []))

    def age_message(self, chat_id: int, message_id: int, hours: float) -> None:
        """Make a stored message `hours` older (its date earlier), e.g. past deleteMessage's 48 hours."""
        message = self._find_message(chat_id, message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        message["date"] -= int(hours * 3600)

    async def wait_for_call(
        self,
        method: str,
        chat_id: int | str | None = None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
    ) -> Call:
        """The first finished call of ``method`` not yet returned by an earlier wait_for_call."""

        def find() -> Call | None:
            for index, call in enumerate(self.calls):
                if index in self._claimed_calls or not call.done or call.method.lower() != method.lower():
                    continue
                if _chat_matches(call, chat_id) and (predicate is None or predicate(call)):
                    self._claimed_calls.add(index)
                    return call
            return None

        return await self._wait(find, timeout, f"no {method} call (chat {chat_id})")

    async def wait_for_message(
        self, chat_id: int, predicate: Callable[[JsonDict], bool] | None = None, timeout: float = 10.0
    ) -> JsonDict:
        """The next message the bot sent to ``chat_id`` (as answered), not returned by an earlier wait."""

        def find() -> JsonDict | None:
            for index, call in enumerate(self.calls):
                if index in self._claimed_messages or not _is_sent_message(call, chat_id):
                    continue
                if predicate is None or predicate(call.result):
                    self._claimed_messages.add(index)
                    return copy.deepcopy(call.result)
            return None

        return await self._wait(find, timeout, f"no message from the bot in chat {chat_id}")

    def mark_handled(self, update_id: int) -> None:
        """The bot says it has finished handling this update (its answers have been sent): a test harness
        calls this from a hook around ``Application.process_update``."""
        self._handled_updates.add(update_id)
        self._calls_changed.notify()

    async def wait_handled(self, update_id: int | None = None, timeout: float = 20.0) -> None:
        """Wait until the bot has handled update ``update_id`` (default: every update pushed so far).

        This is the explicit signal tests wait on instead of a quiet period: it needs the bot to report
        through :meth:`mark_handled`. Updates the server dropped (not in allowed_updates) count as handled.
        """
        last = self.last_update_id if update_id is None else update_id
        dropped = {u["update_id"] for u in self.dropped_updates}

        def done() -> bool:
            return all(
                u in self._handled_updates or u in dropped for u in range(self._first_update_id, last + 1)
            )

        await self._wait(lambda: True if done() else None, timeout, f"update {last} not handled")

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds; it is re-checked after every call and webhook attempt."""
        await self._wait(lambda: True if condition() else None, timeout, "condition not met")

    async def _wait(self, find: Callable[[], _T | None], timeout: float, what: str) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}({c.chat_id})={c.status}" for c in self.calls[-10:])
                raise TimeoutError(f"{what} within {timeout}s; last calls: {recent or 'none'}")
            await self._calls_changed.wait(remaining)


def _chat_matches(call: Call, chat_id: int | str | None) -> bool:
    return chat_id is None or call.chat_id == chat_id


def _is_sent_message(call: Call, chat_id: int) -> bool:
    if not (call.done and call.ok and isinstance(call.result, dict) and "message_id" in call.result):
        return False
    sent = call.method.startswith("send") or call.method in ("forwardMessage", "copyMessage")
    return sent and call.result["chat"]["id"] == chat_id
