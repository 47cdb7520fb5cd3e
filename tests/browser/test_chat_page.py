"""The chat page as people use it, in headless Chromium against the real app and model stub."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Browser, expect

from testing.chat_client import has_message
from testing.mcp_servers import stdio_settings, toml_table
from testing.stubs.model_server import ModelServer, Reply, Status, ToolCalls
from tests.browser.page import ARTIFACTS, WAIT_MS, ChatPage
from tests.helpers import Client, RunningApp, settings_for, start_app


async def test_two_pages_chat_and_the_answer_streams_into_both(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    alice = await (await ChatPage.open(browser, app.http, "study")).join("alice")
    bob = await (await ChatPage.open(browser, app.http, "study")).join("bob")
    assert await alice.page.locator("header .room").inner_text() == "#study"

    await alice.say("hi bob")
    await bob.shows("hi bob")
    await bob.say("hi alice")
    await alice.shows("hi alice")

    answer = "Streaming is **on**, piece by piece, until the end."
    pieces = ["Streaming ", "is **on**, ", "piece ", "by ", "piece, ", "until ", "the end."]
    model.then(Reply(answer, chunks=pieces, delay=0.8, chunk_delay=0.5))
    await bob.say("@chatbot are you streaming?")

    for page in (alice, bob):
        typing = page.page.locator("#typing")
        await expect(typing).to_be_visible(timeout=WAIT_MS)
        await expect(typing).to_have_text("chatbot is typing…")
    partials: dict[str, str] = {}
    for name, page in (("alice", alice), ("bob", bob)):
        streaming = page.page.locator("#log .msg.bot.streaming .body")
        await expect(streaming).to_be_visible(timeout=WAIT_MS)
        partials[name] = await streaming.inner_text()
        await expect(page.page.locator("#typing")).to_be_hidden()
    for name, page in (("alice", alice), ("bob", bob)):
        final = page.page.locator("#log .msg.bot:not(.streaming) .body")
        await expect(final).to_have_text(
            "Streaming is on, piece by piece, until the end.", timeout=WAIT_MS
        )
        assert await final.locator("strong").inner_text() == "on"  # Markdown, rendered
        assert await page.page.locator("#log .msg.streaming").count() == 0
        partial = partials[name].rstrip("▍").strip()
        assert partial and "until the end." not in partial  # seen before it was finished
        assert "Streaming is on, piece by piece, until the end.".startswith(partial)
    # Each message once, in order, for both.
    expected = [
        "hi bob",
        "hi alice",
        "@chatbot are you streaming?",
        "Streaming is on, piece by piece, until the end.",
    ]
    assert await alice.bodies() == expected
    assert await bob.bodies() == expected

    # Reload: the nickname is remembered and the history is there before joining again.
    await alice.reload()
    await alice.shows("Streaming is on")
    assert await alice.bodies() == expected
    assert await alice.page.input_value("#nick") == "alice"
    for page in (alice, bob):
        page.assert_clean()


XSS = "<img src=x onerror=alert(1)>"


async def test_html_in_a_message_is_text_and_runs_nothing(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    alice = await (await ChatPage.open(browser, app.http, "safe")).join("alice")
    bob = await (await ChatPage.open(browser, app.http, "safe")).join("bob")
    await alice.say(XSS)
    await alice.say("<script>alert(2)</script> and [x](javascript:alert(3))")
    for page in (alice, bob):
        await page.shows("[x](javascript:alert(3))")
        assert await page.bodies() == [
            XSS,
            "<script>alert(2)</script> and [x](javascript:alert(3))",
        ]
    await bob.reload()  # the same, from the history
    await bob.shows("[x](javascript:alert(3))")
    assert (await bob.bodies())[0] == XSS
    for page in (alice, bob):
        assert await page.page.locator("#log img, #log script, #log a").count() == 0

    await bob.join("bob")
    # A failure line from the bot looks different from an answer, and is not Markdown either.
    model.default = lambda body: Status(503, {"error": {"message": "overloaded"}})
    await alice.say("@chatbot **hello**?")
    failure = bob.page.locator("#log .msg.bot.error .body")
    await expect(failure).to_be_visible(timeout=WAIT_MS)
    assert await failure.locator("strong").count() == 0
    colours = await bob.eval(
        """() => [...document.querySelectorAll("#log .msg .body")].map(
            (b) => getComputedStyle(b).backgroundColor)"""
    )
    assert colours[-1] not in colours[:-1]
    for page in (alice, bob):
        page.assert_clean()


async def test_markdown_answer_renders_and_is_sanitised(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    answer = (
        "Two ways to say hello:\n\n"
        "1. **Korean**: `안녕하세요`\n"
        "2. *English*: hello\n\n"
        "```python\nprint('hello')\n```\n\n"
        "More in [the docs](https://docs.python.org/3/).\n\n"
        "<script>alert('answer')</script>\n\n"
        "[click me](javascript:alert('link')) "
        "<img src=x onerror=\"alert('img')\"> ![pic](http://127.0.0.1:9/pic.png) "
        '<iframe src="http://127.0.0.1:9/"></iframe>'
    )
    model.then(Reply(answer))
    mina = await (await ChatPage.open(browser, app.http, "markdown")).join("mina")
    await mina.say("@chatbot how do I say hello?")
    body = mina.page.locator("#log .msg.bot:not(.streaming) .body")
    await expect(body).to_contain_text("More in the docs", timeout=WAIT_MS)

    assert await body.locator("ol > li").all_inner_texts() == [
        "Korean: 안녕하세요",
        "English: hello",
    ]
    assert (await body.locator("pre > code").inner_text()).strip() == "print('hello')"
    link = body.locator("a", has_text="the docs")
    assert await link.get_attribute("href") == "https://docs.python.org/3/"
    assert await link.get_attribute("target") == "_blank"
    assert "noopener" in (await link.get_attribute("rel") or "")
    # What could run or load is gone or shown as text.
    assert await mina.page.locator("#log script, #log img, #log iframe").count() == 0
    assert await body.locator("a[href^='javascript'], a[href^='http://127.0.0.1:9']").count() == 0
    assert await body.locator("a", has_text="click me").count() == 1  # kept as plain text
    assert "<script>alert('answer')</script>" in await body.inner_text()
    mina.assert_clean()

    # The screenshot for the test run (test-artifacts/ is git-ignored).
    ARTIFACTS.mkdir(exist_ok=True)
    await mina.page.screenshot(path=str(ARTIFACTS / "chat-markdown.png"))


async def test_enter_sends_but_not_while_an_ime_composes(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    jisu = await ChatPage.open(browser, app.http, "ime")
    # A refused nickname: the page says why and asks again instead of reconnecting forever.
    await jisu.page.fill("#nick", "chatbot")
    await jisu.page.click("#join button")
    await jisu.shows("reserved for the bot")
    await expect(jisu.page.locator("#join")).to_be_visible(timeout=WAIT_MS)
    await expect(jisu.page.locator("#status")).to_have_text("Not joined")
    await jisu.join("jisu")
    box = jisu.page.locator("#text")
    await box.press("Enter")  # empty: nothing sent
    await box.fill("   ")
    await box.press("Enter")  # blank: nothing sent
    await box.fill("안녕")
    await jisu.eval(
        """() => {
        const box = document.getElementById("text");
        const key = (init) => box.dispatchEvent(new KeyboardEvent("keydown",
            {key: "Enter", code: "Enter", bubbles: true, cancelable: true, ...init}));
        box.dispatchEvent(new CompositionEvent("compositionstart", {data: "아"}));
        key({isComposing: true, keyCode: 229});   // Chrome, mid-syllable
        key({});                                  // composing, flag not set on the event
        box.dispatchEvent(new CompositionEvent("compositionend", {data: "안녕"}));
        key({keyCode: 229});                      // Safari: compositionend came first
        key({isComposing: true});
    }"""
    )
    assert await box.input_value() == "안녕"  # still in the box, not sent
    await box.press("Shift+Enter")
    await box.type("하세요")
    assert await box.input_value() == "안녕\n하세요"
    await box.press("Enter")
    await jisu.shows("하세요")
    assert await box.input_value() == ""
    # Frames arrive in order, so anything sent earlier would be on the page by now.
    sent = jisu.page.locator("#log .msg:not(.system) .body")
    assert await sent.all_inner_texts() == ["안녕\n하세요"]
    jisu.assert_clean()


async def test_server_restart_under_the_page_is_reconnected_and_caught_up(
    browser: Browser, db_url: str, model: ModelServer, free_port: int
) -> None:
    settings = settings_for(db_url, model.url)
    first = await start_app(settings, free_port)
    alice = await (await ChatPage.open(browser, first.http, "ops")).join("alice")
    await alice.say("before the restart")
    await alice.shows("before the restart")

    await first.stop()
    await alice.shows("Connection lost")
    await expect(alice.page.locator("#status")).to_contain_text("Disconnected", timeout=WAIT_MS)
    await expect(alice.page.locator("#send-button")).to_be_disabled()

    # While the page is away, others talk (through a server the page is not connected to).
    elsewhere = await start_app(settings)
    bob = await Client.connect(elsewhere.ws_url("bob", room="ops"))
    for text in ("missed one", "missed two"):
        await bob.say(text)
        await bob.until(has_message(text))
    await bob.close()
    await elsewhere.stop()

    second = await start_app(settings, free_port)  # same port, same database
    try:
        await alice.connected()  # reconnected on its own
        await alice.shows("missed two")
        await alice.shows("Reconnected; 2 new message(s) loaded.")
        await alice.say("after the restart")
        await alice.shows("after the restart")
        people = await alice.page.locator("#log .msg:not(.system) .body").all_inner_texts()
        assert people == ["before the restart", "missed one", "missed two", "after the restart"]
        # The console shows the failed reconnect attempts; nothing else may have gone wrong.
        alice.console_errors = [e for e in alice.console_errors if "WebSocket" not in e]
        alice.assert_clean()
    finally:
        await second.stop()


async def test_phone_sized_screen_and_screenshots(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    answer = (
        "Here is a plan for the study group:\n\n"
        "1. Read **chapter 3** before Thursday\n"
        "2. Try the exercise below\n\n"
        "```python\nfor n in range(3):\n    print(f'round {n}')\n```\n\n"
        "Ask again with `@chatbot` if you get stuck — the "
        "[Python tutorial](https://docs.python.org/3/tutorial/) helps too."
    )
    model.then(Reply(answer))
    desktop = await (await ChatPage.open(browser, app.http, "study-group")).join("soyeon")
    phone = await (
        await ChatPage.open(
            browser, app.http, "study-group", viewport={"width": 390, "height": 760}
        )
    ).join("minho")
    await phone.say("안녕! Shall we meet on Thursday?")
    await desktop.shows("Thursday?")
    await desktop.say("@chatbot yes! Can you suggest a plan for us?")
    for page in (desktop, phone):
        await expect(page.page.locator("#log .msg.bot:not(.streaming) pre")).to_be_visible(
            timeout=WAIT_MS
        )
    # Nothing wider than the phone's screen except inside the code block's own scroller.
    overflow = await phone.eval("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert (
        await phone.eval("() => document.getElementById('send').getBoundingClientRect().bottom")
        <= 760
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await desktop.page.screenshot(path=str(ARTIFACTS / "chat.png"))
    await phone.page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    for page in (desktop, phone):
        page.assert_clean()


async def test_new_lines_scroll_into_view_unless_the_reader_scrolled_up(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    talkers = [await Client.connect(app.ws_url(n, room="busy")) for n in ("kai", "lea")]
    for i in range(16):
        await talkers[i % 2].say(f"line {i}\nwith a second row")
    await talkers[1].until(lambda f: f.get("message", "").startswith("line 15"))
    reader = await (
        await ChatPage.open(browser, app.http, "busy", viewport={"width": 390, "height": 420})
    ).join("rin")
    await reader.shows("line 15")
    gap = "() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight; }"
    assert await reader.eval(gap) < 5  # opens at the newest line

    await reader.eval("() => { document.getElementById('scroller').scrollTop = 0; }")
    await talkers[0].say("while you were reading")
    await reader.shows("while you were reading")
    assert await reader.eval("() => document.getElementById('scroller').scrollTop") == 0
    await expect(reader.page.locator("#jump")).to_be_visible()
    await reader.page.click("#jump")
    assert await reader.eval(gap) < 5
    await expect(reader.page.locator("#jump")).to_be_hidden()

    await talkers[1].say("and one more")
    await reader.shows("and one more")
    assert await reader.eval(gap) < 5  # at the bottom, it follows
    for t in talkers:
        await t.close()
    reader.assert_clean()


async def test_a_chat_with_a_join_code_asks_for_it_once(
    browser: Browser, db_url: str, model: ModelServer
) -> None:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_WEB_TOKEN="class-42"))
    try:
        page = await ChatPage.open(browser, running.http, "lobby")
        code = page.page.locator("#code")
        await expect(code).to_be_visible(timeout=WAIT_MS)  # the history said 401: ask
        await page.shows("needs a join code")
        await page.page.fill("#nick", "minseo")
        await code.fill("wrong")
        await page.page.click("#join button")
        await expect(page.page.locator("#join")).to_be_visible()  # still outside
        await code.fill("class-42")
        await page.page.click("#join button")
        await page.connected()
        await page.say("in with the code")
        await page.shows("in with the code")
        await page.reload()  # remembered: no second prompt
        await expect(
            page.page.locator("#log .msg .body", has_text="in with the code")
        ).to_be_visible(timeout=WAIT_MS)
        await expect(code).to_be_hidden()
        await page.page.screenshot(path=str(ARTIFACTS / "join-code.png"))
        page.console_errors = [e for e in page.console_errors if "401" not in e]  # the first ask
        page.assert_clean()
        await page.close()
    finally:
        await running.stop()


async def test_a_small_status_line_says_which_tool_runs(
    browser: Browser, db_url: str, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    slow = stdio_settings("course", web=True)
    config.write_text('[tags.chatbot]\ntools = ["mcp:course"]\n\n' + toml_table(slow))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_CONFIG=str(config)))
    try:
        await asyncio.wait_for(app.app.state.tools.ready(), 30)
        alice = await (await ChatPage.open(browser, app.http, "tools")).join("alice")
        model.then(ToolCalls([("course__slow", '{"seconds": 2}')]), Reply("Done waiting."))
        await alice.say("@chatbot wait two seconds")
        status = alice.page.locator("#typing")
        await expect(status).to_have_text("chatbot: using course: slow…", timeout=WAIT_MS)
        assert await status.get_attribute("data-tools") == "course__slow"
        await alice.shows("Done waiting.")
        await expect(status).to_be_hidden()
        alice.assert_clean()
    finally:
        await app.stop()
