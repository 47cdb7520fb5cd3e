"""Settings and small waits shared by the provider tests (issue 3)."""

from __future__ import annotations

from typing import Any

import httpx

from chatbot.config import AppSettings
from testing.stubs.provider_server import ProviderServer
from tests.helpers import RunningApp, settings_for

PROVIDER_NAMES = ("openai", "openai-responses", "gemini")


def provider_settings(
    db_url: str, server: ProviderServer, provider: str, **env: str
) -> AppSettings:
    if provider == "gemini":
        return settings_for(
            db_url,
            None,
            CHATBOT_PROVIDER="gemini",
            GEMINI_API_KEY="gemini-test-not-a-secret",
            GOOGLE_GEMINI_BASE_URL=server.root,
            **env,
        )
    return settings_for(db_url, server.url, CHATBOT_PROVIDER=provider, **env)


async def stored(app: RunningApp, room: str = "lobby") -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        res = await http.get(f"{app.http}/messages", params={"room": room})
    res.raise_for_status()
    return res.json()


def model_requests(server: ProviderServer, provider: str) -> list[dict[str, Any]]:
    if provider == "gemini":
        return server.gemini_requests()
    if provider == "openai-responses":
        return server.responses_requests()
    return server.chat_requests()
