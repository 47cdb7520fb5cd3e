"""Failures on the Chat Completions wire and in the database: a short line that says which,
nothing lost, the next turn works. Every failure kind for every provider is in
tests/providers/test_failure_kinds.py; here are the wire's own shapes (Retry-After, HTML, empty answers, stalls)."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest

from chatbot.app import create_app
from memory.store import SQLStore
from testing.stubs.model_server import Garbage, Hang, Reply, Status
from tests.helpers import Client, RunningApp, settings_for, start_app


async def ask_and_get(app: RunningApp, text: str = "@chatbot hello?") -> dict[str, Any]:
    c = await Client.connect(app.ws_url("u"))
    await c.say(text)
    answer = await c.answer(timeout=15)
    await c.close()
    return answer


async def stored_texts(app: RunningApp) -> list[str]:
    async with httpx.AsyncClient() as http:
        return [m["message"] for m in (await http.get(f"{app.http}/messages")).json()]


def rate_limited(**headers: str) -> Status:
    return Status(
        429,
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
        headers,
    )


@pytest.mark.parametrize(
    "behaviours, kind, words, attempts",
    [
        ([rate_limited(**{"retry-after-ms": "30"})] * 3, "rate_limited", "rate-limited", 3),
        ([rate_limited(**{"retry-after": "3600"})], "rate_limited", "rate-limited", 1),
        (
            [Status(502, "<html>Bad gateway</html>")] * 3,
            "provider_error",
            "provider had an error",
            3,
        ),
        ([Garbage()], "bad_response", "could not read", 1),
        ([Garbage("{not json", "application/json")], "bad_response", "could not read", 1),
        ([Reply("")], "bad_response", "could not read", 1),
    ],
    ids=[
        "429",
        "429-too-long",
        "502-html",
        "garbage-sse",
        "garbage-json",
        "empty",
    ],
)
async def test_each_failure_has_its_line_keeps_the_message_and_the_next_turn_works(
    app, model, behaviours, kind, words, attempts
):
    model.then(*behaviours)
    answer = await ask_and_get(app)
    assert answer["error"] == kind
    assert words in answer["message"]
    assert len(model.requests) == attempts
    assert await stored_texts(app) == ["@chatbot hello?"]  # the question, not the error line
    model.then(Reply("recovered"))
    assert (await ask_and_get(app, "@chatbot again"))["message"] == "recovered"


async def test_rate_limit_then_success_honours_retry_after(app, model):
    model.then(rate_limited(**{"retry-after": "1"}), Reply("after waiting"))
    answer = await ask_and_get(app)
    assert answer["message"] == "after waiting" and "error" not in answer
    first, second = model.requests
    assert second.at - first.at >= 0.95


async def test_a_model_that_never_answers_times_out(db_url, model):
    running = await start_app(settings_for(db_url, model.url, CHATBOT_TIMEOUT="1"))
    try:
        model.then(Hang(10))
        answer = await ask_and_get(running)
        assert answer["error"] == "timed_out" and "timed out" in answer["message"]
        assert await stored_texts(running) == ["@chatbot hello?"]
        model.then(Reply("awake"))
        assert (await ask_and_get(running, "@chatbot again"))["message"] == "awake"
    finally:
        await running.stop()


async def test_a_stream_that_stalls_midway_times_out(db_url, model):
    running = await start_app(settings_for(db_url, model.url, CHATBOT_TIMEOUT="1"))
    try:
        model.then(Reply("part one part two", chunks=["part one ", "part two"], chunk_delay=3))
        answer = await ask_and_get(running)
        assert answer["error"] == "timed_out"
    finally:
        await running.stop()


async def test_no_api_key_the_service_runs_and_says_how_to_configure(db_url):
    running = await start_app(settings_for(db_url, None))
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{running.http}/")).status_code == 200
        answer = await ask_and_get(running)
        assert answer["error"] == "not_configured"
        assert "OPENAI_API_KEY" in answer["message"] and "chatbot check" in answer["message"]
        assert await stored_texts(running) == ["@chatbot hello?"]
    finally:
        await running.stop()


async def test_a_briefly_locked_database_gives_a_clear_error_and_recovers(tmp_path, model):
    path = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{path}"
    # A store that gives up quickly, so the test does not wait for SQLite's default 30 s.
    store = SQLStore.from_url(url, busy_timeout=0.1, retries=2, backoff=0.05)
    running = await RunningApp(create_app(settings_for(url, model.url), store=store)).start()
    try:
        c = await Client.connect(running.ws_url("u"))
        await c.say("before the outage")
        await c.recv()
        blocker = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        await c.say("during the outage")
        err = await c.recv()
        assert err["type"] == "error" and err["error"] == "storage_unavailable"
        assert "could not save that message" in err["message"]
        blocker.execute("ROLLBACK")
        blocker.close()
        await c.say("after the outage")
        assert (await c.recv())["message"] == "after the outage"
        assert await stored_texts(running) == ["before the outage", "after the outage"]
        await c.close()
    finally:
        await running.stop()
