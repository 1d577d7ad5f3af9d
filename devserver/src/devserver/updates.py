"""How updates reach the bot: getUpdates long polling and webhooks (with retries, as Telegram does)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from devserver.records import _drop_none, _now
from devserver.spec import ApiRequestError, JsonDict, bad_request
from devserver.world import SimulatedWorld

log = logging.getLogger(__name__)

_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook; ``status`` None when the connection failed."""

    update_id: int
    url: str
    attempt: int
    status: int | None
    error: str | None
    time: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    failed_updates: list[JsonDict] = field(default_factory=list)


class UpdateDelivery(SimulatedWorld):
    """getUpdates, setWebhook, deleteWebhook, getWebhookInfo and the webhook worker."""

    allow_external_webhooks: bool
    webhook_attempts: int
    webhook_retry_delay: float
    webhook_timeout: float
    webhook_deliveries: list[WebhookDelivery]
    _webhook: WebhookConfig | None
    _webhook_task: asyncio.Task[None] | None
    _poll_generation: int
    _client: aiohttp.ClientSession | None
    _closing: asyncio.Event

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self._webhook is not None:
            raise ApiRequestError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"])
        self._confirm(params.get("offset"))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_changed.notify()  # a poll still waiting is now superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(int(params.get("timeout", 0)), 0)
        while True:
            if self._webhook is not None:
                raise ApiRequestError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise ApiRequestError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that "
                    "only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if self._pending or remaining <= 0 or self._closing.is_set():
                return self._pending[:limit]
            await self._updates_changed.wait(remaining)

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = params["url"]
        if not url:
            await self._remove_webhook(bool(params.get("drop_pending_updates")))
            return True
        self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        await self._stop_webhook_worker()
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"])
        self._webhook = WebhookConfig(url, secret, max_connections, params.get("ip_address"))
        self._updates_changed.notify()
        self._webhook_task = asyncio.create_task(self._webhook_worker(self._webhook))
        return True

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: invalid webhook URL specified")
        if self.allow_external_webhooks or parts.hostname == "localhost":
            return
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise bad_request("bad webhook: the dev server delivers webhooks to loopback addresses only")

    async def _delete_webhook(self, params: JsonDict) -> bool:
        await self._remove_webhook(bool(params.get("drop_pending_updates")))
        return True

    async def _remove_webhook(self, drop_pending: bool) -> None:
        self._webhook = None
        await self._stop_webhook_worker()
        if drop_pending:
            self._pending.clear()
        self._updates_changed.notify()

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        hook = self._webhook
        info: JsonDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if hook is not None:
            info.update(
                _drop_none(
                    {
                        "ip_address": hook.ip_address,
                        "last_error_date": hook.last_error_date,
                        "last_error_message": hook.last_error_message,
                        "max_connections": hook.max_connections,
                        "allowed_updates": self._allowed_updates,
                    }
                )
            )
        return info

    async def _webhook_worker(self, hook: WebhookConfig) -> None:
        """Delivers pending updates one at a time, in order; gives up on one after a few attempts."""
        while self._webhook is hook and not self._closing.is_set():
            if not self._pending:
                await self._updates_changed.wait(None)
                continue
            update = self._pending[0]
            if not await self._deliver(hook, update):
                hook.failed_updates.append(update)
                log.warning("webhook gave up on update %s: %s", update["update_id"], hook.last_error_message)
            if self._pending and self._pending[0] is update:
                self._pending.pop(0)

    async def _deliver(self, hook: WebhookConfig, update: JsonDict) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        body = json.dumps(update, ensure_ascii=False).encode()
        for attempt in range(1, self.webhook_attempts + 1):
            status, error = await self._post_once(hook.url, body, headers)
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], hook.url, attempt, status, error, time.time())
            )
            self._calls_changed.notify()
            if error is None:
                return True
            hook.last_error_date, hook.last_error_message = _now(), error
            if attempt < self.webhook_attempts:
                await asyncio.sleep(self.webhook_retry_delay)
        return False

    async def _post_once(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with self._client.post(url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return None, f"Connection failed: {exc!r}"
        if 200 <= response.status < 300:
            return response.status, None
        return response.status, f"Wrong response from the webhook: {response.status} {response.reason}"
