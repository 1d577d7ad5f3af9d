"""Proposed performance fixes, applied as patches inside a benchmark's bot process only, so their effect can
be measured before any of them is made in bot/ (see the Performance section of README.md):

    python -m benchmarks --experiment eager-load,aiohttp,inline-db --skip-training

Each experiment is the smallest change that shows the effect; the real fix belongs in the module named.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Callable
from typing import Any

ENV = "BENCH_EXPERIMENTS"


def eager_load() -> None:
    """bot/nlu/client.py (InProcessNlu.load): Rasa builds DIET's weights before loading them by fitting one
    example with a *traced* training step (RasaModel.load): autograph tracing of the whole training graph
    is most of the 25-35 s model load and ~400 MB of memory. One eager training step builds the same
    weights; the model is then compiled back to graph mode for predictions (identical results)."""
    from bot.nlu.client import InProcessNlu

    original = InProcessNlu.load.__func__  # type: ignore[attr-defined]

    def load(cls: Any, model_path: Any) -> Any:
        _patch_rasa_model_load()  # only when a model is loaded here: RASA_URL imports no TensorFlow
        return original(cls, model_path)

    InProcessNlu.load = classmethod(load)  # type: ignore[assignment,method-assign]


def _patch_rasa_model_load() -> None:
    import tensorflow as tf
    from rasa.utils.tensorflow import models
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    def load(
        cls: Any,
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        optimizer = tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001))
        model.compile(optimizer=optimizer, run_eagerly=True)  # build the weights without tracing
        model.fit(RasaBatchDataGenerator(model_data_example, batch_size=1), verbose=False)
        model.load_weights(model_file_name)
        model.compile(optimizer=optimizer, run_eagerly=config.get(RUN_EAGERLY))  # predictions as graphs
        if not finetune_mode and predict_data_example:
            model.run_inference(predict_data_example)
        return model

    models.RasaModel.load = classmethod(load)


def aiohttp_requests() -> None:
    """bot/telegram/app.py (build_application): python-telegram-bot's default HTTPXRequest costs ~2 ms
    of CPU per Bot API call (httpx + httpcore + anyio), and with its default pool of 256 connections
    httpcore rescans every connection on each request. A BaseRequest on aiohttp (already installed)
    costs a fraction of that."""
    import bot.telegram.app as app_module
    from benchmarks.aiohttp_request import AiohttpRequest

    original = app_module.ApplicationBuilder

    class Builder(original):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__()
            self.request(AiohttpRequest(pool_size=32))
            self.get_updates_request(AiohttpRequest(pool_size=1))

    app_module.ApplicationBuilder = Builder  # type: ignore[misc]


def httpx_pool() -> None:
    """bot/telegram/app.py: the one-line alternative to aiohttp: keep httpx, with 32 connections."""
    import bot.telegram.app as app_module

    original = app_module.ApplicationBuilder

    class Builder(original):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__()
            self.connection_pool_size(32)

    app_module.ApplicationBuilder = Builder  # type: ignore[misc]


def inline_db() -> None:
    """bot/storage/parents.py and cases.py: on SQLite, run the (sub-millisecond) database calls on the event
    loop instead of hopping to a worker thread for each (asyncio.to_thread): every hop hands the GIL
    back and forth with the event loop. Keep the threads for PostgreSQL."""
    import bot.storage.cases as cases
    import bot.storage.parents as parents

    async def run_here(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    shim = types.SimpleNamespace(**{name: getattr(asyncio, name) for name in asyncio.__all__})
    shim.to_thread = run_here
    parents.asyncio = shim  # type: ignore[assignment]
    cases.asyncio = shim  # type: ignore[assignment]


def late_typing() -> None:
    """bot/telegram/handlers.py (ParentHandlers._typing): send "typing..." only when an answer takes longer
    than a second, instead of one extra Bot API call for every message."""
    from bot.telegram.handlers import ParentHandlers

    original = ParentHandlers._typing

    async def _typing(self: Any, context: Any, chat_id: int) -> None:
        await asyncio.sleep(1.0)  # cancelled when the answer is ready first
        await original(self, context, chat_id)

    ParentHandlers._typing = _typing  # type: ignore[method-assign]


def background_load() -> None:
    """bot/services.py (load_nlu): load the model in a thread while the bot starts polling, so /start,
    commands and buttons (which need no NLU) are answered at once after a restart; typed messages wait
    for the model. Combine with eager-load."""
    import concurrent.futures
    import threading

    import bot.services as services
    from bot.nlu.client import NluResult

    original = services.load_nlu

    class BackgroundNlu:
        def __init__(self, settings: Any) -> None:
            self._ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
            threading.Thread(target=self._load, args=(settings,), name="nlu-load", daemon=True).start()

        def _load(self, settings: Any) -> None:
            try:
                self._ready.set_result(original(settings))
            except BaseException as error:  # noqa: BLE001 - handed to every parse that waits
                self._ready.set_exception(error)

        async def parse(self, text: str) -> NluResult:
            nlu = await asyncio.wrap_future(self._ready)
            return await nlu.parse(text)

        async def close(self) -> None:
            if self._ready.done() and self._ready.exception() is None:
                await self._ready.result().close()

    def load_nlu(settings: Any) -> Any:
        return original(settings) if settings.rasa_url else BackgroundNlu(settings)

    services.load_nlu = load_nlu


EXPERIMENTS: dict[str, Callable[[], None]] = {
    "eager-load": eager_load,
    "background-load": background_load,
    "aiohttp": aiohttp_requests,
    "httpx-pool": httpx_pool,
    "inline-db": inline_db,
    "late-typing": late_typing,
}


def apply(names: str | None = None) -> list[str]:
    """Apply the experiments named (comma-separated; default: $BENCH_EXPERIMENTS)."""
    wanted = [n.strip() for n in (names if names is not None else os.environ.get(ENV, "")).split(",")]
    applied = []
    for name in filter(None, wanted):
        if name not in EXPERIMENTS:
            raise SystemExit(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
        EXPERIMENTS[name]()
        applied.append(name)
    return applied
