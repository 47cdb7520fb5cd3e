"""CHATBOT_MODEL_WORKERS: model calls in worker processes, over the real SDKs and a loopback model.

Every test runs the real app with real worker processes (`python -m chatbot.model_worker`); the
workers call the stub through the real openai and google-genai SDKs.
"""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

from bot.context import ChatTurn, ModelRequest
from bot.errors import USER_LINES, ErrorKind
from bot.providers.base import ignore_delta
from bot.settings import ModelSettings
from chatbot.config import AppSettings, ConfigError
from chatbot.model_workers import ModelWorkers
from chatbot.provider_factory import ProviderConfig
from tests.helpers import Client, settings_for, start_app
from tests.provider_helpers import PROVIDER_NAMES, model_requests, provider_settings, stored
from tests.stubs.model_server import Garbage, Hang, ModelServer, Reply, Status
from tests.stubs.provider_server import ProviderServer
from tests.test_failure_kinds import rate_limited


def workers_of(app: object) -> ModelWorkers:
    workers = app.app.state.model_workers  # type: ignore[attr-defined]
    assert isinstance(workers, ModelWorkers)
    return workers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def gone(pid: int, timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_answers_come_from_the_workers(
    db_url: str, pserver: ProviderServer, provider: str
) -> None:
    app = await start_app(provider_settings(db_url, pserver, provider, CHATBOT_MODEL_WORKERS="2"))
    try:
        workers = workers_of(app)
        pids = workers.pids()
        assert len(pids) == 2 and os.getpid() not in pids and all(alive(p) for p in pids)
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 안녕")
        first = await c.answer()
        await c.say("@chatbot 또 안녕")
        second = await c.answer()
        await c.close()
        kept = await stored(app)
        assert sum(workers.served) == 2  # both calls went through the pool, none in-process
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{app.http}/metrics")).text
    finally:
        await app.stop()
    assert (first["message"], second["message"]) == ("answer 1", "answer 2")
    assert [m["message"] for m in kept] == [
        "@chatbot 안녕",
        "answer 1",
        "@chatbot 또 안녕",
        "answer 2",
    ]
    assert len(model_requests(pserver, provider)) == 2
    assert all([await gone(p) for p in pids])  # app shutdown ends the workers
    assert "chatbot_model_workers 2.0" in metrics
    assert "chatbot_model_worker_starts_total 2.0" in metrics
    assert "chatbot_model_calls_in_flight 0.0" in metrics


async def test_deltas_stream_back_to_the_page(db_url: str, model: ModelServer) -> None:
    model.then(Reply("하나 둘 셋 넷", chunks=["하나 ", "둘 ", "셋 ", "넷"], chunk_delay=0.05))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_MODEL_WORKERS="1"))
    try:
        streamer = await Client.connect(app.ws_url("s", stream="1"))
        await streamer.say("@chatbot 세어 봐")
        final = await streamer.answer()
        await streamer.close()
    finally:
        await app.stop()
    deltas = [f["message"] for f in streamer.frames if f["type"] == "delta"]
    assert len(deltas) >= 2  # it streamed, in pieces, not only the final text
    assert "".join(deltas) == final["message"] == "하나 둘 셋 넷"


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_failures_cross_the_process_boundary_classified(
    db_url: str, pserver: ProviderServer, provider: str
) -> None:
    # Three 429s: retried with their Retry-After (which must survive the trip), then given up.
    pserver.then(*[rate_limited(provider) for _ in range(3)], Garbage())
    settings = provider_settings(db_url, pserver, provider, CHATBOT_MODEL_WORKERS="1")
    app = await start_app(settings)
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 붐벼?")
        limited = await c.answer(timeout=15)
        await c.say("@chatbot 이상해?")
        garbled = await c.answer(timeout=15)
        await c.say("@chatbot 이제 괜찮아?")
        fine = await c.answer(timeout=15)
        await c.close()
    finally:
        await app.stop()
    assert limited["error"] == ErrorKind.RATE_LIMITED.value
    assert limited["message"] == USER_LINES[ErrorKind.RATE_LIMITED]
    calls = [r for r in pserver.requests if r.body]
    assert calls[1].at - calls[0].at >= 0.15  # the worker's Retry-After reached the core
    assert garbled["error"] == ErrorKind.BAD_RESPONSE.value
    assert fine.get("error") is None and fine["message"].startswith("answer")


async def test_a_timeout_in_the_worker_is_the_timeout_line(db_url: str, model: ModelServer) -> None:
    model.then(Hang(seconds=5))
    settings = settings_for(db_url, model.url, CHATBOT_MODEL_WORKERS="1", CHATBOT_TIMEOUT="1")
    app = await start_app(settings)
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 느려")
        failed = await c.answer(timeout=15)
        workers = workers_of(app)
        assert workers.in_flight() == 0
        await c.say("@chatbot 다시")
        again = await c.answer()
        await c.close()
    finally:
        await app.stop()
    assert failed["error"] == ErrorKind.TIMEOUT.value
    assert again["message"].startswith("answer")


async def test_a_worker_that_dies_is_replaced_and_the_turn_retried(
    db_url: str, model: ModelServer
) -> None:
    model.then(Hang(seconds=5))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_MODEL_WORKERS="1"))
    try:
        (pid,) = workers_of(app).pids()
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 기다려")
        await model.wait_for_requests(1)
        os.kill(pid, signal.SIGKILL)
        # The lost call is a provider error, which the core retries: on a new worker.
        answer = await c.answer(timeout=30)
        (new_pid,) = workers_of(app).pids()
        await c.close()
        assert workers_of(app).starts == 2
    finally:
        await app.stop()
    assert answer.get("error") is None and answer["message"] == "answer 2"
    assert new_pid != pid and len(model.chat_requests()) == 2


async def test_responses_chain_through_workers(db_url: str, pserver: ProviderServer) -> None:
    settings = provider_settings(db_url, pserver, "openai-responses", CHATBOT_MODEL_WORKERS="1")
    app = await start_app(settings)
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 내 이름은 소연")
        await c.answer()
        await c.say("@chatbot 내 이름은?")
        await c.answer()
        await c.close()
    finally:
        await app.stop()
    first, second = pserver.responses_requests()
    assert first.get("previous_response_id") is None
    assert second["previous_response_id"] == "resp_1"  # the chain survives the process hop


def test_the_setting_is_checked() -> None:
    assert AppSettings.from_env({}).model_workers == 0
    assert AppSettings.from_env({"CHATBOT_MODEL_WORKERS": "3"}).model_workers == 3
    for bad in ("-1", "many", "65"):
        with pytest.raises(ConfigError, match="CHATBOT_MODEL_WORKERS"):
            AppSettings.from_env({"CHATBOT_MODEL_WORKERS": bad})


async def test_status_errors_keep_their_kind(db_url: str, model: ModelServer) -> None:
    model.then(Status(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_MODEL_WORKERS="1"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 열쇠")
        failed = await c.answer()
        await c.close()
    finally:
        await app.stop()
    assert failed["error"] == ErrorKind.AUTH.value


async def test_a_call_the_core_stops_waiting_for_is_dropped(model: ModelServer) -> None:
    model.then(Hang(seconds=5))
    config = ProviderConfig(
        openai_api_key="sk-test-not-a-secret",
        openai_base_url=model.url,
        gemini_api_key=None,
        gemini_base_url=None,
        timeout=30,
    )
    workers = ModelWorkers(config, 1, ("openai",))
    await workers.start()
    request = ModelRequest(
        channel="web:lobby",
        system="be brief",
        turns=[ChatTurn("user", "soyeon: @chatbot hi")],
        settings=ModelSettings(),
    )
    try:
        waiting = asyncio.create_task(workers.call("openai", request, ignore_delta))
        await model.wait_for_requests(1)
        waiting.cancel()  # e.g. the core's overall time bound
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert workers.in_flight() == 0
        reply = await workers.call("openai", request, ignore_delta)  # the worker is not stuck
    finally:
        await workers.close()
    assert reply.text == "answer 2"
    assert workers.pids() == []
