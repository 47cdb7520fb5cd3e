"""Pictures on the chat page, in headless Chromium against the real app and the model stub:
picked and pasted images shown to the room, the bot's answer, limits and an SVG with a script."""

from __future__ import annotations

import base64

from playwright.async_api import Browser, FilePayload, expect

from testing.images import SVG_WITH_SCRIPT, photo, png
from testing.stubs.model_server import ModelServer
from tests.browser.page import ARTIFACTS, WAIT_MS, ChatPage
from tests.helpers import RunningApp, settings_for, start_app

THUMB = "#log .msg .files img.thumb"


async def pick(page: ChatPage, name: str, kind: str, data: bytes) -> None:
    """Choose a file with the page's file picker, as a person does."""
    await page.page.set_input_files(
        "#file", files=[FilePayload(name=name, mimeType=kind, buffer=data)]
    )


async def loaded_width(page: ChatPage, selector: str) -> int:
    """The thumbnail really loaded (through the CSP's img-src 'self'): its decoded width."""
    await expect(page.page.locator(selector).first).to_be_visible(timeout=WAIT_MS)
    await page.page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
        timeout=WAIT_MS,
    )
    return int(await page.eval("(s) => document.querySelector(s).naturalWidth", selector))


async def test_a_picked_image_shows_in_a_second_page_and_the_bot_answers(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    alice = await (await ChatPage.open(browser, app.http, "pics")).join("alice")
    bob = await (await ChatPage.open(browser, app.http, "pics")).join("bob")
    await pick(alice, "cat.png", "image/png", png(120, 80))
    await expect(alice.page.locator("#pending img.thumb")).to_be_visible(timeout=WAIT_MS)
    await alice.say("@chatbot what is in this picture?")
    await expect(alice.page.locator("#pending")).to_be_hidden(timeout=WAIT_MS)
    for page in (alice, bob):
        await page.shows("what is in this picture?")
        assert await loaded_width(page, THUMB) == 120
        assert await page.page.locator(THUMB).get_attribute("alt") == "cat.png"
        await page.shows("answer 1")
    (request,) = model.chat_requests()
    parts = request["messages"][-1]["content"]
    assert parts[0]["text"] == "alice: what is in this picture?\n[image: cat.png]"
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    # After a reload the picture comes with the history.
    await bob.reload()
    assert await loaded_width(bob, THUMB) == 120
    ARTIFACTS.mkdir(exist_ok=True)
    await alice.page.screenshot(path=str(ARTIFACTS / "chat-picture.png"))
    for page in (alice, bob):
        page.assert_clean()


async def test_a_pasted_photo_is_sent_on_its_own_and_downscaled(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    alice = await (await ChatPage.open(browser, app.http, "paste")).join("alice")
    bob = await (await ChatPage.open(browser, app.http, "paste")).join("bob")
    data = base64.b64encode(photo(2400, 1800, 80)).decode()
    await alice.eval(
        """(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "image.jpg", {type: "image/jpeg"}));
        const box = document.getElementById("text");
        box.focus();
        box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
    }""",
        data,
    )
    await expect(alice.page.locator("#pending img.thumb")).to_be_visible(timeout=WAIT_MS)
    # A file dropped on the page joins it.
    await alice.eval(
        """(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        for (const type of ["dragover", "drop"]) {
            document.body.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }
    }""",
        base64.b64encode(png(30, 20)).decode(),
    )
    await expect(alice.page.locator("#pending img.thumb")).to_have_count(2, timeout=WAIT_MS)
    await alice.page.press("#text", "Enter")  # no text: the pictures alone are the message
    assert await loaded_width(bob, THUMB) == 1568  # kept at most 1568 pixels wide
    await expect(bob.page.locator(THUMB)).to_have_count(2)
    assert model.chat_requests() == []  # not addressed: shown, stored, no model call
    await bob.say("@chatbot what did alice paste?")
    await bob.shows("answer 1")
    messages = model.chat_requests()[0]["messages"]
    assert messages[-2]["content"][0]["text"] == "alice: [image: image.jpg]\n[image: dropped.png]"
    for page in (alice, bob):
        page.assert_clean()


async def test_a_file_over_the_limit_gets_the_error_line_and_nothing_is_sent(
    browser: Browser, db_url: str, model: ModelServer
) -> None:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_FILE_MAX_BYTES="20000"))
    try:
        alice = await (await ChatPage.open(browser, running.http, "limits")).join("alice")
        big = photo(300, 300, 95)
        assert len(big) > 20000
        await pick(alice, "big.jpg", "image/jpeg", big)
        error = alice.page.locator("#log .msg.system.error .body")
        await expect(error).to_have_text("big.jpg is over the 19.5 KB limit.", timeout=WAIT_MS)
        await expect(alice.page.locator("#pending")).to_be_hidden()
        await alice.say("still here")
        await alice.shows("still here")
        assert await alice.page.locator(THUMB).count() == 0
        # The browser logs the refused upload (413) itself; nothing else may go wrong.
        alice.console_errors = [e for e in alice.console_errors if "413" not in e]
        alice.assert_clean()
    finally:
        await running.stop()


async def test_an_svg_with_a_script_never_runs(
    browser: Browser, app: RunningApp, model: ModelServer
) -> None:
    alice = await (await ChatPage.open(browser, app.http, "svg")).join("alice")
    bob = await (await ChatPage.open(browser, app.http, "svg")).join("bob")
    for name, kind in (("cat.svg", "image/svg+xml"), ("cat.png", "image/png")):
        await pick(alice, name, kind, SVG_WITH_SCRIPT)
        await alice.shows(f"{name}: SVG images are not supported")
    # Markup in a text file is a download link, never rendered (and an SVG inside one is
    # still an SVG: refused by its bytes whatever it is called).
    markup = b"<p>notes</p><img src=x onerror=alert(1)><script>alert(2)</script>"
    await pick(alice, "notes.txt", "text/plain", markup)
    await expect(alice.page.locator("#pending .file-chip")).to_be_visible(timeout=WAIT_MS)
    await alice.say("my notes")
    chip = bob.page.locator("#log .msg .files a.file-chip")
    await expect(chip).to_have_text("📄 notes.txt", timeout=WAIT_MS)
    assert await chip.get_attribute("download") == "notes.txt"
    assert await bob.page.locator("#log svg, #log img, #log iframe, #log object").count() == 0
    alice.console_errors = [e for e in alice.console_errors if "415" not in e]
    for page in (alice, bob):
        assert page.dialogs == []
        page.assert_clean()
