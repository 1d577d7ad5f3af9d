"""`GET /healthz` and `GET /metrics` for the bot process, served when HEALTH_PORT is set.

/healthz answers 200 when the model is loaded, the database answers a `SELECT 1` within
DB_TIMEOUT_SECONDS and no delivery is stuck (failed, or tried STUCK_ATTEMPTS times: what `parentbot
outbox` lists), 503 otherwise, with a JSON body saying which. /metrics is Prometheus' text format
(bot/metrics.py). Neither says anything personal: states, counts and ages only, never an id or a text.

The server (aiohttp's, as the bot's HTTP client) is started in the Application's post_init and stopped
in its post_shutdown (bot/telegram/lifecycle.py), on HEALTH_LISTEN (127.0.0.1 unless set).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot import metrics
from bot.nlu.client import BackgroundLoadedNlu, NluClient
from bot.services import Services

log = logging.getLogger(__name__)

DB_TIMEOUT_SECONDS = 2.0
"""A database slower than this to answer `SELECT 1` counts as unreachable."""


@dataclass(frozen=True)
class Health:
    """What /healthz answers (its JSON body)."""

    status: str
    model: str
    database: str
    stuck_deliveries: int | None
    oldest_undelivered_seconds: float | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def model_state(nlu: NluClient) -> str:
    """ "loading", "ready" or "failed"."""
    if isinstance(nlu, BackgroundLoadedNlu):
        return nlu.state()
    return "ready" if nlu.is_ready() else "loading"


class HealthServer:
    """The health and metrics endpoints of one bot process."""

    def __init__(self, services: Services, listen: str, port: int) -> None:
        self._services = services
        self._listen = listen
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)  # the monitor's polls would flood the log
        await self._runner.setup()
        await web.TCPSite(self._runner, self._listen, self._port).start()
        log.info("Health check and metrics on http://%s:%d/healthz", self._listen, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def check(self) -> Health:
        model = model_state(self._services.nlu)
        reachable = await self._database_reachable()
        stuck, oldest = await self._outbox_state() if reachable else (None, None)
        ok = model == "ready" and reachable and stuck == 0
        return Health(
            status="ok" if ok else "failing",
            model=model,
            database="reachable" if reachable else "unreachable",
            stuck_deliveries=stuck,
            oldest_undelivered_seconds=None if oldest is None else round(oldest, 1),
        )

    async def _database_reachable(self) -> bool:
        try:
            await asyncio.wait_for(self._select_one(), DB_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - any failure means not reachable
            log.warning("Health check: the database did not answer (%s)", type(error).__name__)
            return False
        return True

    async def _select_one(self) -> None:
        async with self._services.sessions() as session:
            await session.execute(text("SELECT 1"))

    async def _outbox_state(self) -> tuple[int | None, float | None]:
        outbox = self._services.records.outbox
        try:
            stuck = await outbox.stuck_deliveries()
            return len(stuck), await outbox.oldest_undelivered_age()
        except Exception as error:  # noqa: BLE001 - reported as unknown, and so failing
            log.warning("Health check: the outbox could not be read (%s)", type(error).__name__)
            return None, None

    async def _healthz(self, _: web.Request) -> web.Response:
        health = await self.check()
        body: dict[str, Any] = asdict(health)
        return web.json_response(body, status=200 if health.ok else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        try:
            oldest = await self._services.records.outbox.oldest_undelivered_age()
        except Exception as error:  # noqa: BLE001 - the counters are still worth serving
            log.warning("Metrics: the outbox could not be read (%s)", type(error).__name__)
            oldest = None
        return web.Response(
            body=metrics.exposition(oldest),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
