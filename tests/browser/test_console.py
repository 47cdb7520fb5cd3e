"""The operator's console in headless Chromium, against the real app on a seeded database.

A week of turns on three platforms is stored first (tests/console_seed.py); the page must draw
its table and charts from it. Login with the token (a wrong one refused, slowly), a reset from
the console that the chat then feels, settings that the next turn obeys, CSRF refused from the
page itself and from another site, nothing without the session. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from memory.store import SQLStore
from testing.stubs.model_server import ModelServer, Reply
from tests.browser.page import ARTIFACTS, WAIT_MS, ChatPage
from tests.console_seed import CHANNELS, XSS_NAME, Seeded, seed_week
from tests.helpers import Client, RunningApp, settings_for, start_app

TOKEN = "admin-token-for-the-browser-0123456789"


@pytest.fixture
async def seeded(db_url: str) -> Seeded:
    store = SQLStore.from_url(db_url)
    await store.create_schema()
    found = await seed_week(store)
    await store.close()
    return found


@pytest.fixture
async def console(db_url: str, model: ModelServer) -> AsyncIterator[RunningApp]:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_ADMIN_TOKEN=TOKEN))
    yield running
    await running.stop()


async def open_console(
    browser: Browser, base: str, *, viewport: dict[str, int] | None = None
) -> ChatPage:
    context = await browser.new_context(viewport=viewport or {"width": 1200, "height": 900})  # type: ignore[arg-type]
    page = ChatPage(await context.new_page(), base)
    await page.page.goto(f"{base}/admin")
    return page


async def log_in(page: Page, token: str = TOKEN) -> None:
    await page.fill("#token", token)
    await page.click("#login button")


async def logged_in(browser: Browser, base: str, **kw: Any) -> ChatPage:
    console = await open_console(browser, base, **kw)
    await log_in(console.page)
    await expect(console.page.locator("#channel-table tbody tr").first).to_be_visible(
        timeout=WAIT_MS
    )
    return console


def assert_clean_but(page: ChatPage, *statuses: int) -> None:
    """ChatPage.assert_clean, allowing the refusals the test provoked (Chromium logs each
    refused request as a console error)."""
    expected = [f"status of {s}" for s in statuses]
    page.console_errors = [e for e in page.console_errors if not any(x in e for x in expected)]
    page.assert_clean()


async def bars(page: Page, chart: str) -> dict[tuple[str, str], float]:
    """What the chart drew: each bar's (day, series) and value, from the SVG itself."""
    found = await page.eval_on_selector_all(
        f"{chart} rect",
        "rects => rects.map(r => [r.dataset.day, r.dataset.series, Number(r.dataset.value)])",
    )
    return {(day, series): value for day, series, value in found}


async def test_a_wrong_token_is_refused_slowly_and_the_console_draws_the_stored_week(
    browser: Browser, console: RunningApp, seeded: Seeded
) -> None:
    page = await open_console(browser, console.http)
    p = page.page
    await expect(p.locator("#token")).to_be_visible()
    start = time.monotonic()
    await log_in(p, TOKEN[::-1])
    await expect(p.locator(".error")).to_have_text("That is not the admin token.")
    assert time.monotonic() - start >= 0.95  # slowed down
    assert await p.context.cookies() == []
    await log_in(p)
    rows = p.locator("#channel-table tbody tr")
    await expect(rows).to_have_count(len(CHANNELS), timeout=WAIT_MS)
    [cookie] = await p.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    assert await p.evaluate("document.cookie") == ""  # out of the page's reach

    # The table, from the stored week: 30 days by default, sorted by cost.
    for channel in CHANNELS:
        cells = await p.locator(
            f'#channel-table tr[data-channel="{channel.key}"] td'
        ).all_inner_texts()
        assert cells[2] == str(seeded.channel_messages[channel.key])
        assert cells[3] == str(seeded.channel_messages[channel.key] // 2)
        assert cells[4] == f"{seeded.channel_tokens[channel.key]:,}"
        assert cells[5] == f"${seeded.channel_cost[channel.key]:.2f}"
    order = await p.locator("#channel-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    )
    costs = [seeded.channel_cost[c] for c in order]
    assert costs == sorted(costs, reverse=True)
    await p.click('#channel-table th[data-sort="channel"] button')
    order = await p.locator("#channel-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    )
    assert order == sorted(c.key for c in CHANNELS)
    assert (
        await p.get_attribute('#channel-table th[data-sort="channel"]', "aria-sort") == "ascending"
    )
    await p.click('#channel-table th[data-sort="channel"] button')
    assert (
        await p.get_attribute('#channel-table th[data-sort="channel"]', "aria-sort") == "descending"
    )
    await p.click('[data-period="today"]')
    today = await p.locator('#channel-table tr[data-channel="web:lobby"] td').all_inner_texts()
    assert today[2] == "14"  # the seventh day: 7 questions and 7 answers
    await p.click('[data-period="30d"]')

    # The chart: tokens by model per day, then cost, then by platform.
    drawn = await bars(p, "#usage-chart")
    assert drawn == {key: tokens for key, (tokens, _) in seeded.by_model.items()}
    await p.click('[data-measure="cost"]')
    drawn = await bars(p, "#usage-chart")
    assert drawn.keys() == seeded.by_model.keys()
    for key, (_, cost) in seeded.by_model.items():
        assert drawn[key] == pytest.approx(cost)
    await p.click('[data-split="platform"]')
    drawn = await bars(p, "#usage-chart")
    assert {series for _, series in drawn} == {"web", "slack", "discord"}
    for key, (_, cost) in seeded.by_platform.items():
        assert drawn[key] == pytest.approx(cost)
    legend = await p.locator("#usage-legend li").all_inner_texts()
    assert legend == [
        f"{name}: ${sum(c for (_, n), (_, c) in seeded.by_platform.items() if n == name):.2f}"
        for name in ("discord", "slack", "web")
    ]
    # Failed turns by kind per day, from the turn_failures table.
    assert await bars(p, "#errors-chart") == seeded.failures
    await p.click('[data-measure="tokens"]')
    await p.click('[data-split="model"]')

    # People, with a nickname that is markup shown as text.
    people = p.locator("#people-table tbody")
    await expect(people).to_contain_text(XSS_NAME)
    assert await people.locator("img").count() == 0
    # Providers and adapters, as `chatbot check` sees them; no secret.
    check = await p.locator("#check-lines").inner_text()
    assert "console:   on" in check and TOKEN not in check and "sk-test" not in check

    # A channel's memory and settings.
    await p.click('#channel-table tr[data-channel="web:lobby"] button.link')
    await expect(p.locator("#detail-title")).to_have_text("web:lobby")
    await expect(p.locator("#detail-summary")).to_contain_text(
        "alice and bob talked about the exam"
    )
    memory = await p.locator("#detail-memory").inner_text()
    assert "Messages held\n56" in memory
    ARTIFACTS.mkdir(exist_ok=True)
    await p.screenshot(path=str(ARTIFACTS / "console-desktop.png"), full_page=True)
    assert_clean_but(page, 401)  # the wrong token's answer
    await page.close()

    # A phone: readable, nothing wider than the screen but the tables' own scroll.
    phone = await logged_in(browser, console.http, viewport={"width": 390, "height": 760})
    width = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert await bars(phone.page, "#usage-chart") == {k: t for k, (t, _) in seeded.by_model.items()}
    await phone.page.screenshot(path=str(ARTIFACTS / "console-phone.png"), full_page=True)
    phone.assert_clean()
    await phone.close()


async def test_a_reset_from_the_console_reaches_the_chat(
    browser: Browser, console: RunningApp, model: ModelServer
) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        heard = "pineapple" in json.dumps(body["messages"])
        return Reply("I remember: pineapple." if heard else "I know no fruit of yours.")

    model.default = answer
    alice = await Client.connect(console.ws_url("alice", room="garden"))
    await alice.say("my favourite fruit is pineapple")
    await alice.say("@chatbot what is my fruit?")
    assert (await alice.answer())["message"] == "I remember: pineapple."

    page = await logged_in(browser, console.http)
    p = page.page
    await p.click('#channel-table tr[data-channel="web:garden"] button.link')
    await expect(p.locator("#detail-title")).to_have_text("web:garden")
    # Forget asks first; cancelled, nothing happens.
    await p.click("#do-forget")
    await expect(p.locator("#confirm")).to_be_visible()
    await expect(p.locator("#confirm-text")).to_contain_text("Forget web:garden?")
    await p.click('#confirm button[value="cancel"]')
    await expect(p.locator("#confirm")).to_be_hidden()
    await p.click("#do-reset")
    await expect(p.locator("#confirm-text")).to_contain_text("Reset web:garden?")
    await p.screenshot(path=str(ARTIFACTS / "console-confirm-reset.png"))
    await p.click("#confirm-ok")
    await expect(p.locator("#notice")).to_have_text(
        "Done: web:garden: the model forgets everything said so far", timeout=WAIT_MS
    )
    await expect(p.locator("#detail-memory")).to_contain_text("message #")

    # The chat feels it: the model no longer gets the old history.
    await alice.say("@chatbot and now, what is my fruit?")
    assert (await alice.answer())["message"] == "I know no fruit of yours."
    last = model.chat_requests()[-1]["messages"]
    assert [m["content"] for m in last[1:]] == ["alice: and now, what is my fruit?"]
    stored = await console.app.state.store.recent("web:garden", 10)
    assert any("pineapple" in m.text for m in stored)  # a reset keeps the messages
    await alice.close()
    page.assert_clean()
    await page.close()


async def test_settings_changed_in_the_console_apply_to_the_next_turn(
    browser: Browser, console: RunningApp
) -> None:
    minho = await Client.connect(console.ws_url("minho", room="study"))
    await minho.say("hello room")  # the channel exists
    await minho.until(lambda f: f.get("message") == "hello room")
    page = await logged_in(browser, console.http)
    p = page.page
    await p.click('#channel-table tr[data-channel="web:study"] button.link')
    await expect(p.locator("#detail-title")).to_have_text("web:study")
    await p.select_option("#persona", "dragon")
    await p.uncheck("#file-limits")
    await p.click("#add-limit")
    row = p.locator("#limit-rows .limit").last
    await row.locator(".scope").select_option("user")
    await row.locator(".period").select_option("day")
    await row.locator(".amount").fill("18")
    await row.locator(".unit").select_option("tokens")
    await p.click('#settings button[type="submit"]')
    await expect(p.locator("#notice")).to_contain_text("Saved", timeout=WAIT_MS)
    await expect(p.locator('#channel-table tr[data-channel="web:study"] .badge')).to_have_text(
        "settings changed"
    )
    await p.screenshot(path=str(ARTIFACTS / "console-settings.png"), full_page=True)

    await minho.say("@chatbot tell me a tale")
    assert "error" not in await minho.answer(nickname="dragon")  # the console's persona
    await minho.say("@chatbot another one")
    over = await minho.answer(nickname="dragon")
    assert over["error"] == "over_limit"
    assert over["message"].startswith("Spending limit reached: you have used 18 tokens")
    await minho.close()

    # Shown again after a reload, as an override of the file's.
    await p.reload()
    await p.click('#channel-table tr[data-channel="web:study"] button.link')
    await expect(p.locator("#persona")).to_have_value("dragon")
    await expect(p.locator("#settings-file")).to_contain_text("In the file: persona (default)")
    assert not await p.is_checked("#file-limits")
    page.assert_clean()
    await page.close()


HOSTILE = """<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{target}/admin/api/channel/reset">
<input name='{{"channel": "web:lobby", "confirm": "web:lobby", "x": "' value='"}}'>
</form>
<script>
fetch("{target}/admin/api/channel/forget", {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{channel: "web:lobby", confirm: "web:lobby"}})}})
  .then(r => {{ document.title = "fetch " + r.status; }}, () => {{ document.title = "fetch failed"; }})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""


async def test_csrf_is_refused_and_nothing_answers_without_the_session(
    browser: Browser, console: RunningApp, seeded: Seeded
) -> None:
    store = console.app.state.store
    page = await logged_in(browser, console.http)
    p = page.page
    # From the console's own page, without the token or with a wrong one.
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        status = await p.evaluate(
            """async (headers) => (await fetch("/admin/api/channel/reset", {method: "POST",
                headers: {"Content-Type": "application/json", ...headers},
                body: JSON.stringify({channel: "web:lobby", confirm: "web:lobby"})})).status""",
            headers,
        )
        assert status == 403
    # From another site, in the same browser where the operator is logged in.
    hostile = web.Application()

    async def serve(_: web.Request) -> web.Response:
        return web.Response(text=HOSTILE.format(target=console.http), content_type="text/html")

    hostile.router.add_get("/", serve)
    runner = web.AppRunner(hostile, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "localhost", 0)
    await site.start()
    port = runner.addresses[0][1]
    answered: list[tuple[str, int]] = []
    asked: list[str] = []
    try:
        evil = await p.context.new_page()
        evil.on("response", lambda r: answered.append((r.url, r.status)))
        evil.on("request", lambda r: asked.append(r.url))
        await evil.goto(f"http://localhost:{port}/")
        # The form's post lands on our route: refused, the cookie stayed home (SameSite).
        await evil.wait_for_url(f"{console.http}/admin/api/channel/reset", timeout=WAIT_MS)
        assert '"error":"login"' in await evil.content()
        await evil.close()
    finally:
        await runner.cleanup()
    assert (f"{console.http}/admin/api/channel/reset", 401) in answered
    # The script's fetch went out too (its answer is the browser's to hide: no CORS).
    assert f"{console.http}/admin/api/channel/forget" in asked
    assert (await store.state("web:lobby")).reset_after_id == 0
    assert len(await store.recent("web:lobby", 1000)) == seeded.channel_messages["web:lobby"]
    assert_clean_but(page, 403)
    await page.close()

    # A browser without the session: the login form, and 401 for everything else.
    stranger = await open_console(browser, console.http)
    s = stranger.page
    await expect(s.locator("#token")).to_be_visible()
    for path in (
        "/admin/api/dashboard",
        "/admin/api/channel?key=web:lobby",
        "/admin/static/console.js",
    ):
        response = await s.goto(f"{console.http}{path}")
        assert response is not None and response.status == 401, path
        assert '"error":"login"' in await s.content()
    await stranger.close()
