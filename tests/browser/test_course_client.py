"""The course's own client, served by its own dev server, against the chat in headless Chromium.

The page (tests/browser/course_client/) does what the course's day-2 React client does: it
fetches `API/messages`, renders each `nickname [timestamp] : message`, then opens
`new WebSocket(WS/ws/<nick>)` and appends every frame. Served as http://localhost:<port> it is
on the default allow-list; served as http://127.0.0.2:<port> (loopback on Linux, but not on the
list) the browser must give it neither the history nor a socket.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.browser.page import ARTIFACTS, WAIT_MS
from tests.helpers import Client, RunningApp

SITE = Path(__file__).with_name("course_client")
Handler = Callable[[web.Request], Awaitable[web.Response]]
FILES = {"/": ("index.html", "text/html"), "/client.js": ("client.js", "text/javascript")}


def serve_file(body: str, kind: str) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(text=body, content_type=kind)

    return handler


class DevServer:
    """A second HTTP server, like the course's `npm run dev`: the page and its script only."""

    def __init__(self, host: str):
        self.host = host
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> DevServer:
        app = web.Application()
        for path, (name, kind) in FILES.items():
            app.router.add_get(path, serve_file((SITE / name).read_text("utf-8"), kind))
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def dev_server() -> AsyncIterator[DevServer]:
    server = await DevServer("127.0.0.1").start()
    yield server
    await server.stop()


@pytest.fixture
async def foreign_server() -> AsyncIterator[DevServer]:
    server = await DevServer("127.0.0.2").start()
    yield server
    await server.stop()


class CoursePage:
    """The page in its own browser context, with what it logged and every address it reached."""

    def __init__(self, page: Page):
        self.page = page
        self.console_errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    @classmethod
    async def open(cls, browser: Browser, url: str) -> CoursePage:
        context = await browser.new_context(viewport={"width": 720, "height": 480})
        course = cls(await context.new_page())
        await course.page.goto(url)
        return course

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    async def lines(self) -> list[str]:
        return await self.page.locator("#log li").all_inner_texts()

    def assert_stayed_on_loopback(self) -> None:
        assert self.urls, "the page made no requests at all?"
        for url in self.urls:
            host = urlsplit(url).hostname or ""
            assert host == "localhost" or ipaddress.ip_address(host).is_loopback, url

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / name))

    async def close(self) -> None:
        await self.page.context.close()


def client_url(site: str, api: str, nick: str) -> str:
    return f"{site}/?{urlencode({'api': api, 'nick': nick})}"


async def stored_lines(app: RunningApp) -> list[str]:
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{app.http}/messages")).json()
    return [f"{m['nickname']} [{m['timestamp']}] : {m['message']}" for m in stored]


async def test_course_client_on_a_local_dev_server_loads_history_and_goes_live(
    browser: Browser, app: RunningApp, dev_server: DevServer
) -> None:
    bob = await Client.connect(app.ws_url("bob"))
    await bob.say("said before the page opened")
    await bob.recv()
    # As in class: the page is http://localhost:<port2>, the chat server http://localhost:<port>.
    # Chromium maps localhost to loopback itself and reaches our 127.0.0.1-only server.
    url = client_url(f"http://localhost:{dev_server.port}", f"http://localhost:{app.port}", "mina")
    mina = await CoursePage.open(browser, url)
    await expect(mina.page.locator("#history")).to_have_text("1 loaded", timeout=WAIT_MS)
    await expect(mina.page.locator("#socket")).to_have_text("open", timeout=WAIT_MS)
    await bob.say("live while the page is open")
    await expect(mina.page.locator("#log li")).to_have_count(2, timeout=WAIT_MS)
    assert await mina.lines() == await stored_lines(app)

    await mina.page.reload()  # what used to come back empty: the history is read cross-origin
    await expect(mina.page.locator("#history")).to_have_text("2 loaded", timeout=WAIT_MS)
    await expect(mina.page.locator("#socket")).to_have_text("open", timeout=WAIT_MS)
    await bob.say("live after the reload")
    await expect(mina.page.locator("#log li")).to_have_count(3, timeout=WAIT_MS)
    lines = await mina.lines()
    assert lines == await stored_lines(app)
    assert [line.split(" : ", 1)[1] for line in lines] == [
        "said before the page opened",
        "live while the page is open",
        "live after the reload",
    ]
    assert all(line.startswith("bob [") for line in lines)
    await mina.screenshot("course-client-allowed.png")
    assert mina.console_errors == []
    mina.assert_stayed_on_loopback()
    await mina.close()
    await bob.close()


async def test_course_client_on_another_origin_gets_neither_history_nor_socket(
    browser: Browser,
    app: RunningApp,
    foreign_server: DevServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bob = await Client.connect(app.ws_url("bob"))
    await bob.say("not for other sites")
    await bob.recv()
    url = client_url(f"http://127.0.0.2:{foreign_server.port}", app.http, "mallory")
    with caplog.at_level(logging.INFO, logger="adapters.web.cors"):
        page = await CoursePage.open(browser, url)
        await expect(page.page.locator("#history")).to_have_text(
            "failed (TypeError)", timeout=WAIT_MS
        )
        await expect(page.page.locator("#socket")).to_have_text(
            "error, close 1006", timeout=WAIT_MS
        )
    assert await page.lines() == []
    assert len(await stored_lines(app)) == 1  # stored, only not handed to this page
    # The browser says why: CORS for the fetch, the 403 for the WebSocket.
    errors = "\n".join(page.console_errors)
    assert "blocked by CORS policy" in errors and "No 'Access-Control-Allow-Origin'" in errors
    assert "403" in errors
    refusals = [r.getMessage() for r in caplog.records if r.name == "adapters.web.cors"]
    assert refusals and f"http://127.0.0.2:{foreign_server.port}" in refusals[0]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{app.http}/healthz")).json()["connections"] == 1  # bob only
    await page.screenshot("course-client-refused.png")
    page.assert_stayed_on_loopback()
    await page.close()
    await bob.close()
