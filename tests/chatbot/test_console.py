"""The console's HTTP surface over httpx against the real app: off without its token, nothing
without a session, the cookie's flags, a slowed and rate-limited login, CSRF on every change,
and what the dashboard and the actions do with real stored data.

The page itself, in headless Chromium, is tests/browser/test_console.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from bot.types import CounterKey
from chatbot.app import create_app
from chatbot.config import AppSettings, ConfigError
from chatbot.console import auth
from memory.store import SQLStore
from testing.stubs.model_server import ModelServer
from tests.chatbot.test_cli import run_check
from tests.console_seed import CHANNELS, Seeded, seed_week
from tests.helpers import Client, RunningApp, settings_for, start_app

TOKEN = "admin-token-for-the-tests-0123456789"
SECRET_KEY = "sk-test-not-a-secret"


@pytest.fixture
async def seeded(db_url: str) -> Seeded:
    store = SQLStore.from_url(db_url)
    await store.create_schema()
    found = await seed_week(store)
    await store.close()
    return found


@pytest.fixture
async def console(db_url: str, model: ModelServer, seeded: Seeded) -> AsyncIterator[RunningApp]:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_ADMIN_TOKEN=TOKEN))
    yield running
    await running.stop()


async def logged_in(app: RunningApp) -> tuple[httpx.AsyncClient, str]:
    http = httpx.AsyncClient(base_url=app.http)
    res = await http.post("/admin/login", data={"token": TOKEN})
    assert res.status_code == 303 and res.headers["location"] == "/admin"
    page = (await http.get("/admin")).text
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return http, csrf


def test_short_tokens_are_refused_and_check_says_on_or_off(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        AppSettings.from_env({"CHATBOT_ADMIN_TOKEN": "short"})
    off = run_check({}, tmp_path)
    assert "console:   off (set CHATBOT_ADMIN_TOKEN to turn on GET /admin)" in off.stdout
    on = run_check({"CHATBOT_ADMIN_TOKEN": TOKEN}, tmp_path)
    assert "console:   on (GET /admin, CHATBOT_ADMIN_TOKEN set)" in on.stdout
    assert "CHATBOT_ADMIN_TOKEN    set" in on.stdout
    assert TOKEN not in on.stdout + on.stderr


async def test_without_the_token_there_is_no_console(app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=app.http) as http:
        for path in ("/admin", "/admin/api/dashboard", "/admin/static/console.js"):
            assert (await http.get(path)).status_code == 404
        assert (await http.post("/admin/login", data={"token": TOKEN})).status_code == 404


async def test_no_console_route_answers_without_a_session(console: RunningApp) -> None:
    routes = [
        (method, r.path)
        for r in console.app.state.console.routes
        if isinstance(r, APIRoute)
        for method in r.methods or ()
    ]
    assert all(path.startswith("/admin") for _, path in routes)
    assert len(routes) >= 8  # the page, login, logout, static, dashboard, channel, 3 actions
    forged = [
        None,
        "junk",
        f"{int(time.time()) + 3600}.nonce.{'0' * 64}",  # a signature we did not make
        auth.Sessions(TOKEN, lifetime=-10).issue(),  # ours, expired
        auth.Sessions("another-admin-token-0123456789").issue(),  # another deployment's
    ]
    for cookie in forged:
        cookies = {auth.COOKIE: cookie} if cookie else {}
        async with httpx.AsyncClient(base_url=console.http, cookies=cookies) as http:
            for method, path in routes:
                url = path.replace("{name}", "console.js")
                if path == "/admin/login":
                    continue  # the way in, tested below
                res = await http.request(method, url, params={"key": "web:lobby"})
                if (method, path) == ("GET", "/admin"):
                    assert res.status_code == 200 and 'name="token"' in res.text  # the login form
                    assert "csrf-token" not in res.text and "web:lobby" not in res.text
                else:
                    assert res.status_code == 401, (method, path, cookie)
                    assert "web:lobby" not in res.text
            # The login form's stylesheet is the one file served to anyone.
            assert (await http.get("/admin/static/console.css")).status_code == 200
    store = console.app.state.store
    assert (await store.state("web:lobby")).reset_after_id == 0  # nothing was changed


async def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(
    db_url: str, model: ModelServer
) -> None:
    app = create_app(settings_for(db_url, model.url, CHATBOT_ADMIN_TOKEN=TOKEN))
    async with app.router.lifespan_context(app):
        for base, secure in (("http://console.test", False), ("https://console.test", True)):
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
            async with httpx.AsyncClient(transport=transport, base_url=base) as http:
                res = await http.post("/admin/login", data={"token": TOKEN})
                assert res.status_code == 303
                cookie = res.headers["set-cookie"]
                assert cookie.startswith(f"{auth.COOKIE}=")
                assert "HttpOnly" in cookie and "SameSite=strict" in cookie
                assert "Path=/admin" in cookie
                assert ("Secure" in cookie) is secure
                assert TOKEN not in cookie
                # The page carries the chat page's policy.
                page = await http.get("/admin")
                assert page.headers["content-security-policy"].startswith("default-src 'none'")
                assert page.headers["cache-control"] == "no-store"
                assert 'name="csrf-token"' in page.text


async def test_a_wrong_token_is_slowed_down_and_the_address_locked_out(
    console: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with httpx.AsyncClient(base_url=console.http) as http:
        start = time.monotonic()
        wrong = await http.post("/admin/login", data={"token": TOKEN[:-1]})
        assert time.monotonic() - start >= auth.FAIL_DELAY * 0.95  # slowed down
        assert wrong.status_code == 401 and "That is not the admin token." in wrong.text
        assert auth.COOKIE not in wrong.headers.get("set-cookie", "")
        monkeypatch.setattr(auth, "FAIL_DELAY", 0.01)
        for _ in range(auth.MAX_FAILURES - 1):
            assert (await http.post("/admin/login", data={"token": "nope"})).status_code == 401
        locked = await http.post("/admin/login", data={"token": TOKEN})  # even the right one
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 500
        assert "Too many wrong tokens" in locked.text
        assert (await http.get("/admin/api/dashboard")).status_code == 401


async def test_every_change_needs_the_csrf_token_and_our_origin(console: RunningApp) -> None:
    http, csrf = await logged_in(console)
    store = console.app.state.store
    body = {"channel": "web:lobby", "confirm": "web:lobby"}
    own = console.http
    try:
        for headers in (
            {},  # no token
            {"X-CSRF-Token": "0" * 64},  # a wrong one
            {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},  # another site's page
            {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
        ):
            for action in ("reset", "forget", "settings"):
                res = await http.post(f"/admin/api/channel/{action}", json=body, headers=headers)
                assert res.status_code == 403 and res.json()["error"] == "csrf", (action, headers)
            assert (await http.post("/admin/logout", headers=headers)).status_code == 403
        assert (await store.state("web:lobby")).reset_after_id == 0
        assert len(await store.recent("web:lobby", 1000)) == 56
        # With the token, from our own page (the browser sends Origin: null under no-referrer).
        for origin in (own, "null"):
            res = await http.post(
                "/admin/api/channel/reset",
                json=body,
                headers={"X-CSRF-Token": csrf, "Origin": origin, "Sec-Fetch-Site": "same-origin"},
            )
            assert res.status_code == 200 and res.json()["ok"]
        newest = (await store.recent("web:lobby", 1))[-1].id
        assert (await store.state("web:lobby")).reset_after_id == newest
        # Reset and forget need the channel's name as confirmation.
        res = await http.post(
            "/admin/api/channel/forget",
            json={"channel": "web:lobby", "confirm": "web:other"},
            headers={"X-CSRF-Token": csrf},
        )
        assert res.status_code == 400 and len(await store.recent("web:lobby", 1000)) == 56
        assert (await http.post("/admin/logout", headers={"X-CSRF-Token": csrf})).status_code == 200
    finally:
        await http.aclose()


async def test_the_dashboard_is_drawn_from_the_stored_week(
    console: RunningApp, seeded: Seeded
) -> None:
    http, _ = await logged_in(console)
    try:
        data = (await http.get("/admin/api/dashboard")).json()
    finally:
        await http.aclose()
    channels = {c["channel"]: c for c in data["channels"]}
    assert set(channels) == {c.key for c in CHANNELS}
    for key, line in channels.items():
        month = line["periods"]["30d"]
        assert line["messages_total"] == month["messages"] == seeded.channel_messages[key]
        assert month["turns"] == seeded.channel_messages[key] // 2
        assert month["tokens"] == seeded.channel_tokens[key]
        assert month["cost_usd"] == pytest.approx(seeded.channel_cost[key])
        # Today is the seventh day: 7 questions and their answers.
        assert line["periods"]["today"]["messages"] == 14
    assert channels["slack:T1:C1"]["platform"] == "slack"
    by_model: dict[tuple[str, str], list[float]] = {}
    for row in data["usage"]:
        found = by_model.setdefault((row["day"], row["model"]), [0, 0.0])
        found[0] += row["tokens"]
        found[1] += row["cost_usd"]
    assert by_model.keys() == seeded.by_model.keys()
    for key, (tokens, cost) in seeded.by_model.items():
        assert by_model[key][0] == tokens and by_model[key][1] == pytest.approx(cost)
    failures = {(f["day"], f["kind"]): f["count"] for f in data["failures"]["by_day"]}
    assert failures == seeded.failures
    people = {p["user"]: p for p in data["people"]}
    assert people["U100"]["name"] == "minji" and people["U100"]["platform"] == "slack"
    assert data["days"][-1] == datetime.now(UTC).date().isoformat() and len(data["days"]) == 30
    # What `chatbot check` says, never a secret.
    text = str(data)
    assert "console:   on" in text and SECRET_KEY not in text and TOKEN not in text
    assert data["status"]["prices_as_of"] == "2025-08-15"


async def test_settings_from_the_console_are_checked_and_apply_at_once(
    console: RunningApp,
) -> None:
    http, csrf = await logged_in(console)
    headers = {"X-CSRF-Token": csrf}
    try:
        for bad, why in (
            ({"persona": "pirate"}, "persona"),
            ({"limits": [{"scope": "galaxy", "period": "day", "tokens": 5}]}, "scope"),
            ({"limits": [{"scope": "user", "period": "day"}]}, "tokens or cost_usd"),
            ({"limits": [{"scope": "user", "period": "day", "tokens": 5, "cost_usd": 1}]}, "one"),
            ({"limits": [{"scope": "user", "period": "week", "tokens": 5}]}, "period"),
            ({"limits": "lots"}, "a list"),
            ({"system_prompt": "x" * 9000}, "system_prompt"),
        ):
            res = await http.post(
                "/admin/api/channel/settings", json={"channel": "web:lobby", **bad}, headers=headers
            )
            assert res.status_code == 400 and why in res.json()["detail"], bad
        res = await http.post(
            "/admin/api/channel/settings",
            json={
                "channel": "web:lobby",
                "persona": "Dragon",
                "limits": [{"scope": "user", "period": "day", "tokens": 18}],
            },
            headers=headers,
        )
        assert res.status_code == 200
        detail = res.json()["channel"]
        assert detail["settings"]["override"]["persona"] == "dragon"
        assert detail["settings"]["file"]["persona"] is None  # shown beside the file's
        assert detail["settings"]["effective"]["limits"][0]["tokens"] == 18
        # This process sees it at once: the next turn is the dragon's, then over the limit.
        yuna = await Client.connect(console.ws_url("yuna"))  # not in the seeded week
        await yuna.say("@chatbot hello")
        assert "error" not in await yuna.answer(nickname="dragon")
        await yuna.say("@chatbot again")
        assert (await yuna.answer(nickname="dragon"))["error"] == "over_limit"
        await yuna.close()
        # Back to the file's.
        res = await http.post(
            "/admin/api/channel/settings", json={"channel": "web:lobby"}, headers=headers
        )
        assert res.json()["channel"]["settings"]["override"] is None
        assert await console.app.state.store.channel_settings() == []
    finally:
        await http.aclose()


async def test_forget_deletes_the_channel_but_keeps_the_spending_counts(
    console: RunningApp,
) -> None:
    http, csrf = await logged_in(console)
    store = console.app.state.store
    today = datetime.now(UTC).date()
    before = await store.spent([CounterKey("channel", "discord:G1:C1")], today)
    try:
        res = await http.post(
            "/admin/api/channel/forget",
            json={"channel": "discord:G1:C1", "confirm": "discord:G1:C1"},
            headers={"X-CSRF-Token": csrf},
        )
        assert res.status_code == 200 and "56 messages deleted" in res.json()["done"]
        assert await store.recent("discord:G1:C1", 10) == []
        assert len(await store.recent("web:lobby", 1000)) == 56  # no other channel touched
        assert await store.spent([CounterKey("channel", "discord:G1:C1")], today) == before
        detail = (await http.get("/admin/api/channel", params={"key": "web:lobby"})).json()
        assert detail["memory"]["summary"]["text"].startswith("alice and bob")
    finally:
        await http.aclose()
