"""Driving the chat page in Debian's headless Chromium through Playwright (async API).

Playwright's own browser download does not work on our machines, so it launches
/usr/bin/chromium (installed by scripts/ci/install-browser.sh). Every page records dialogs
(an `alert` would mean script ran), console errors (CSP violations land there) and every
request it made (nothing may leave the app's origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Dialog, Locator, Page, Request, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 10_000  # generous: the machine is shared


class ChatPage:
    def __init__(self, page: Page, base: str):
        self.page, self.base = page, base
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        page.on("request", self._on_request)

    @classmethod
    async def open(
        cls, browser: Browser, base: str, room: str, *, viewport: dict[str, int] | None = None
    ) -> ChatPage:
        context = await browser.new_context(viewport=viewport or {"width": 900, "height": 640})  # type: ignore[arg-type]
        chat = cls(await context.new_page(), base)
        await chat.page.goto(f"{base}/?room={room}")
        return chat

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    # -- actions -----------------------------------------------------------------------------

    async def join(self, nickname: str) -> ChatPage:
        await self.page.fill("#nick", nickname)
        await self.page.click("#join button")
        await self.connected()
        await expect(self.page.locator("#join")).to_be_hidden()
        await expect(self.page.locator("#send")).to_be_visible()
        return self

    async def connected(self) -> None:
        await expect(self.page.locator("#status")).to_have_text("Connected", timeout=WAIT_MS)

    async def say(self, text: str) -> None:
        await self.page.fill("#text", text)
        await self.page.press("#text", "Enter")

    async def reload(self) -> None:
        await self.page.reload()

    # -- reading -----------------------------------------------------------------------------

    @property
    def lines(self) -> Locator:
        return self.page.locator("#log .msg")

    def line(self, text: str) -> Locator:
        return self.page.locator("#log .msg .body", has_text=text)

    async def bodies(self) -> list[str]:
        return await self.page.locator("#log .msg .body").all_inner_texts()

    async def shows(self, text: str) -> None:
        await expect(self.line(text).first).to_be_visible(timeout=WAIT_MS)

    async def eval(self, script: str, arg: Any = None) -> Any:
        return await self.page.evaluate(script, arg)

    def assert_clean(self) -> None:
        """Nothing ran (no dialogs), nothing broke (no console errors), nothing left the origin."""
        assert self.dialogs == [], self.dialogs
        assert self.console_errors == [], self.console_errors
        foreign = [u for u in self.requests if not u.startswith(self.base)]
        assert foreign == [], foreign

    async def close(self) -> None:
        await self.page.context.close()
