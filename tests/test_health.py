"""/healthz and /metrics (bot/telegram/health.py) of the real Application, against the local Bot API
server: the model's state, the database and stuck deliveries decide 200 or 503, and the metrics count
parents' messages without saying who sent them or what."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from bot.domain import CaseDraft, CaseKind, Priority
from bot.nlu.client import BackgroundLoadedNlu, InProcessNlu
from bot.schools import Schools
from bot.staff import StaffOptions
from bot.storage.database import session_factory
from bot.storage.models import Delivery, DeliveryKind, DeliveryStatus
from tests.telegram_harness import RunningBot, eventually, free_port, running_bot

FAST = StaffOptions(delivery_interval=0.2, retry_base=0.2, retry_max=2.0)


def _health_settings() -> dict[str, object]:
    return {"health_port": free_port()}


def _url(bot: RunningBot, path: str) -> str:
    settings = bot.services.settings
    return f"http://{settings.health_listen}:{settings.health_port}{path}"


async def _get(bot: RunningBot, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(_url(bot, path))


async def test_healthz_is_200_with_the_model_ready_and_the_database_reachable(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with running_bot(nlu, schools, tmp_path, settings_overrides=_health_settings()) as bot:
        response = await _get(bot, "/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "model": "ready",
        "database": "reachable",
        "stuck_deliveries": 0,
        "oldest_undelivered_seconds": None,
    }


async def test_healthz_is_503_while_the_model_is_still_loading(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    release = threading.Event()

    def load_slowly() -> InProcessNlu:
        release.wait(60)
        return nlu

    loading = BackgroundLoadedNlu(load_slowly)
    try:
        async with running_bot(loading, schools, tmp_path, settings_overrides=_health_settings()) as bot:
            waiting = await _get(bot, "/healthz")
            release.set()
            await loading.ready()
            loaded = await _get(bot, "/healthz")
    finally:
        release.set()
    assert waiting.status_code == 503
    assert waiting.json()["model"] == "loading"
    assert waiting.json()["database"] == "reachable"
    assert loaded.status_code == 200
    assert loaded.json()["model"] == "ready"


async def test_healthz_is_503_when_a_delivery_is_stuck(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    async with running_bot(nlu, schools, tmp_path, settings_overrides=_health_settings()) as bot:
        with session_factory(bot.services.db).begin() as session:
            session.add(
                Delivery(kind=DeliveryKind.PIN, chat_id=-100, status=DeliveryStatus.FAILED, last_error="x")
            )
        response = await _get(bot, "/healthz")
        metrics = (await _get(bot, "/metrics")).text
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["model"] == "ready"
    assert body["stuck_deliveries"] == 1
    assert body["oldest_undelivered_seconds"] is not None
    assert body["oldest_undelivered_seconds"] >= 0
    assert "parentbot_oldest_undelivered_seconds " in metrics


def _sample(metrics: str, name: str) -> float:
    """The value of the sample `name` (with its labels, as written) in Prometheus' text format."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}")


async def test_metrics_count_a_parents_message_without_saying_who_or_what(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    question = "can i post photos of the school play on facebook"
    async with running_bot(nlu, schools, tmp_path, settings_overrides=_health_settings()) as bot:
        parent = bot.parent("Robin")
        await bot.say(parent, question)
        response = await _get(bot, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    assert _sample(metrics, "parentbot_messages_handled_total") >= 1
    answers = [line for line in metrics.splitlines() if line.startswith("parentbot_answers_total{")]
    assert answers, "an answers-by-intent sample"
    assert all(line.startswith('parentbot_answers_total{intent="') for line in answers)
    assert _sample(metrics, "parentbot_turn_seconds_count") >= 1
    assert "parentbot_deliveries_sent_total" in metrics  # described even before the first delivery
    assert str(parent.id) not in metrics
    assert "Robin" not in metrics
    assert "facebook" not in metrics
    assert "school play" not in metrics


def _sample_or_zero(metrics: str, name: str) -> float:
    try:
        return _sample(metrics, name)
    except AssertionError:
        return 0.0


async def test_metrics_count_deliveries_sent_and_failed_by_kind(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """A card posted in a staff group that exists counts as sent; one for a school whose group Telegram
    does not know ("chat not found") counts as failed."""
    sent_name = 'parentbot_deliveries_sent_total{kind="case_card"}'
    failed_name = 'parentbot_deliveries_failed_total{kind="case_card"}'
    overrides = _health_settings()
    async with running_bot(nlu, schools, tmp_path, staff_options=FAST, settings_overrides=overrides) as bot:
        before = (await _get(bot, "/metrics")).text
        parent = bot.parent("Sam")
        oakfield, st_aidans = schools.get("oakfield"), schools.get("st-aidans")
        assert oakfield is not None
        assert st_aidans is not None
        bot.server.create_group("Oakfield staff", members=[parent], chat_id=oakfield.staff_chat_id)
        for school in (oakfield, st_aidans):
            await bot.services.records.cases.open_case(
                CaseDraft(
                    parent_id=str(parent.id),
                    parent_chat_id=parent.id,
                    school_id=school.id,
                    staff_chat_id=school.staff_chat_id,
                    kind=CaseKind.CYBERBULLYING,
                    priority=Priority.NORMAL,
                    summary="Older pupils keep sending my son horrible messages",
                    contact_method="chat",
                )
            )

        async def counted() -> bool:
            now = (await _get(bot, "/metrics")).text
            sent = _sample_or_zero(now, sent_name) - _sample_or_zero(before, sent_name)
            failed = _sample_or_zero(now, failed_name) - _sample_or_zero(before, failed_name)
            return sent >= 1 and failed >= 1

        await eventually(counted, "a card sent and a card failed were counted")
        after = (await _get(bot, "/metrics")).text
    assert str(parent.id) not in after
    assert "horrible" not in after


async def test_an_urgent_case_a_parent_opens_is_counted_once(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    """The urgent path (a danger message, its guidance, the alert filed) through Telegram: one urgent case
    more in /metrics, and nothing the parent wrote."""
    name = "parentbot_urgent_cases_total"
    async with running_bot(
        nlu, schools, tmp_path, staff_options=FAST, settings_overrides=_health_settings()
    ) as bot:
        before = _sample_or_zero((await _get(bot, "/metrics")).text, name)
        parent = bot.parent("Pat")
        welcome = await bot.say(parent, "/start")
        await bot.press(parent, welcome, "Hollybrook Infant and Nursery School")
        bot.server.user_sends_text(parent, "a man on roblox is asking my 8 year old to send him photos")
        offer = await bot.last_answer(parent)
        await bot.press(parent, offer, "Yes, alert them now")
        contact = await bot.say(parent, "He has been messaging her for a week and asked where she lives")
        summary = await bot.press(parent, contact, "Reply in this chat")
        await bot.press(parent, summary, "Yes, send it")
        [case] = await bot.services.records.cases.parent_cases(str(parent.id))
        after = (await _get(bot, "/metrics")).text
    assert case.priority is Priority.URGENT
    assert _sample_or_zero(after, name) - before == 1
    assert "roblox" not in after
    assert case.reference not in after
