"""The chat page as people use it, in headless Chromium against the real app and model stub."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.page import ARTIFACTS, WAIT_MS, ChatPage
from tests.helpers import RunningApp
from tests.stubs.model_server import ModelServer, Reply


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
    model.then(Reply(answer, chunks=pieces, delay=0.8, chunk_delay=0.35))
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
