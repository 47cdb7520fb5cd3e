"""Other web pages and the chat: CORS on GET /messages and /healthz, the Origin rule for /ws.

The course's React client runs on its dev server (http://localhost:5173), another origin: the
browser hands it /messages only with CORS headers. Everything else stays same-origin, and a
WebSocket from a page that is neither ours nor allowed is refused with 403.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chatbot.config import AppSettings, ConfigError
from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp, settings_for, start_app

LOCAL_PAGES = ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"]
EVIL = "http://evil.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@asynccontextmanager
async def serving(db_url: str, model: ModelServer, **env: str) -> AsyncIterator[RunningApp]:
    running = await start_app(settings_for(db_url, model.url, **env))
    try:
        yield running
    finally:
        await running.stop()


async def connect(url: str, origin: str | None) -> Client:
    return Client(await websockets.connect(url, origin=origin))  # type: ignore[arg-type]


@pytest.mark.parametrize("origin", LOCAL_PAGES)
@pytest.mark.parametrize("path", ["/messages", "/healthz"])
async def test_a_local_dev_server_page_may_read_history_and_health(
    app: RunningApp, origin: str, path: str
) -> None:
    async with httpx.AsyncClient() as http:
        got = await http.get(f"{app.http}{path}", headers={"Origin": origin})
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == origin
    assert "Origin" in got.headers["vary"]
    assert "access-control-allow-credentials" not in got.headers  # no cookies, no need


@pytest.mark.parametrize("path", ["/messages", "/healthz"])
async def test_another_site_gets_no_cors_headers(app: RunningApp, path: str) -> None:
    async with httpx.AsyncClient() as http:
        foreign = await http.get(f"{app.http}{path}", headers={"Origin": EVIL})
        no_origin = await http.get(f"{app.http}{path}")
    for got in (foreign, no_origin):
        assert got.status_code == 200  # served; the browser is what withholds it from the page
        assert cors_headers(got) == {}
        assert "Origin" in got.headers["vary"]  # a cache must not hand one answer to the other


async def test_errors_carry_cors_so_the_page_can_read_why(app: RunningApp) -> None:
    origin = "http://localhost:5173"
    async with httpx.AsyncClient() as http:
        bad_room = await http.get(f"{app.http}/messages?room=a b", headers={"Origin": origin})
        bad_limit = await http.get(f"{app.http}/messages?limit=0", headers={"Origin": origin})
    assert bad_room.status_code == 400 and bad_limit.status_code == 422
    for got in (bad_room, bad_limit):
        assert got.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("path", ["/messages", "/healthz"])
async def test_preflight_is_answered_for_an_allowed_origin_only(app: RunningApp, path: str) -> None:
    async with httpx.AsyncClient() as http:
        allowed = await http.options(
            f"{app.http}{path}", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
        )
        refused = await http.options(f"{app.http}{path}", headers={"Origin": EVIL, **PREFLIGHT})
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "GET" in allowed.headers["access-control-allow-methods"]
    allow_headers = allowed.headers["access-control-allow-headers"].lower()
    assert "content-type" in allow_headers and "authorization" in allow_headers
    assert 60 <= int(allowed.headers["access-control-max-age"]) <= 7200
    assert cors_headers(refused) == {}
    assert refused.status_code >= 400


async def test_cors_origins_setting_replaces_the_default(db_url: str, model: ModelServer) -> None:
    async with serving(db_url, model, CHATBOT_CORS_ORIGINS="https://class.example.org") as app:
        async with httpx.AsyncClient() as http:
            course = await http.get(
                f"{app.http}/messages", headers={"Origin": "https://class.example.org"}
            )
            local = await http.get(
                f"{app.http}/messages", headers={"Origin": "http://localhost:5173"}
            )
            local_preflight = await http.options(
                f"{app.http}/messages", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
            )
        assert course.headers["access-control-allow-origin"] == "https://class.example.org"
        assert cors_headers(local) == {} and cors_headers(local_preflight) == {}
        with pytest.raises(InvalidStatus) as refused:
            await connect(app.ws_url("mina"), "http://localhost:5173")
        assert refused.value.response.status_code == 403
        # Our own page is always ours; the same host on another port is another origin.
        own = await connect(app.ws_url("mina"), f"http://127.0.0.1:{app.port}")
        await own.say("from our own page")
        assert (await own.recv())["message"] == "from our own page"
        await own.close()
        with pytest.raises(InvalidStatus) as other_port:
            await connect(app.ws_url("mina"), f"http://127.0.0.1:{app.port + 1}")
        assert other_port.value.response.status_code == 403
        course_ws = await connect(app.ws_url("mina"), "https://class.example.org")
        await course_ws.say("from the course page")
        assert (await course_ws.recv())["message"] == "from the course page"
        await course_ws.close()


async def test_star_allows_any_origin(db_url: str, model: ModelServer) -> None:
    async with serving(db_url, model, CHATBOT_CORS_ORIGINS="*") as app:
        async with httpx.AsyncClient() as http:
            got = await http.get(f"{app.http}/messages", headers={"Origin": EVIL})
            preflight = await http.options(
                f"{app.http}/healthz", headers={"Origin": EVIL, **PREFLIGHT}
            )
        assert got.headers["access-control-allow-origin"] == EVIL
        assert preflight.headers["access-control-allow-origin"] == EVIL
        anyone = await connect(app.ws_url("eve"), EVIL)
        await anyone.say("anyone may")
        assert (await anyone.recv())["message"] == "anyone may"
        await anyone.close()


async def test_cors_is_on_those_two_routes_only(app: RunningApp) -> None:
    origin = {"Origin": "http://localhost:5173"}
    async with httpx.AsyncClient() as http:
        history = await http.get(f"{app.http}/messages", headers=origin)
        assert history.headers["access-control-allow-origin"] == origin["Origin"]
        for path in ("/metrics", "/", "/static/app.js"):
            got = await http.get(f"{app.http}{path}", headers=origin)
            preflight = await http.options(f"{app.http}{path}", headers={**origin, **PREFLIGHT})
            assert got.status_code == 200, path
            assert cors_headers(got) == {} and cors_headers(preflight) == {}, path


async def test_a_foreign_page_cannot_open_the_chat(
    app: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="adapters.web.cors"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(app.ws_url("victim"), EVIL)
        with pytest.raises(InvalidStatus) as sandboxed:
            await connect(app.ws_url("victim"), "null")  # a sandboxed iframe, a file: page
    assert refused.value.response.status_code == 403
    assert sandboxed.value.response.status_code == 403
    refusals = [r for r in caplog.records if r.name == "adapters.web.cors"]
    assert len(refusals) == 2 and refusals[0].levelno == logging.INFO
    assert EVIL in refusals[0].getMessage()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{app.http}/healthz")).json()["connections"] == 0
        assert (await http.get(f"{app.http}/messages")).json() == []


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "https://127.0.0.1:3000", "OWN", None],
    ids=["dev-server", "https-loopback", "own-page", "no-origin"],
)
async def test_allowed_own_and_originless_clients_connect_and_chat(
    app: RunningApp, origin: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    if origin == "OWN":
        origin = f"http://127.0.0.1:{app.port}"
    with caplog.at_level(logging.INFO, logger="adapters.web.cors"):
        a = await connect(app.ws_url("soyeon"), origin)
        b = await connect(app.ws_url("minho"), origin)
        await a.say("hello")
        for client in (a, b):
            frame = await client.recv()
            assert (frame["nickname"], frame["message"]) == ("soyeon", "hello")
        await a.close()
        await b.close()
    assert [r for r in caplog.records if r.name == "adapters.web.cors"] == []
    with pytest.raises(InvalidStatus):  # while the same server still refuses a foreign page
        await connect(app.ws_url("soyeon"), EVIL)


@pytest.mark.parametrize(
    "value",
    ["class.example.org", "localhost:3000", "https://class.example.org/chat", "*, https://a.b"],
)
def test_an_invalid_cors_origins_entry_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="CHATBOT_CORS_ORIGINS") as err:
        AppSettings.from_env({"CHATBOT_CORS_ORIGINS": value})
    assert value.split(",")[0].strip() in str(err.value)


def test_cors_origins_are_read_as_browsers_send_them() -> None:
    policy = AppSettings.from_env(
        {"CHATBOT_CORS_ORIGINS": " HTTPS://Class.Example.org:443/ , http://[::1]:3000,"}
    ).cors
    assert policy.origins == frozenset({"https://class.example.org", "http://[::1]:3000"})
    assert policy.allowed("https://class.example.org")
    assert not policy.allowed("http://localhost:3000")  # the list replaced the default
    default = AppSettings.from_env({}).cors
    assert default.allowed("https://localhost") and default.allowed("http://[::1]:5173")
    for foreign in ("http://localhost.evil.example", "http://127.0.0.2:3000", "null", ""):
        assert not default.allowed(foreign)
