"""Calling the Slack Web API: rate limits waited out, the errors we can name logged clearly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_RATELIMIT_WAIT = 30.0
ATTEMPTS = 3

# Errors that no retry fixes: say why, once per failed call, in words an admin can act on.
REASONS = {
    "not_in_channel": "the bot is not a member of the channel (invite it: /invite @<bot name>)",
    "channel_not_found": "the channel does not exist or the bot cannot see it (private channel?)",
    "is_archived": "the channel is archived",
    "missing_scope": "the app lacks a scope (reinstall it from slack/manifest.yaml)",
    "invalid_auth": "the bot token is invalid (SLACK_BOT_TOKEN, or the workspace's installation)",
    "not_authed": "the bot token is missing",
    "account_inactive": "the bot token belongs to a deleted user or an uninstalled app",
}


def error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _retry_after(exc: SlackApiError) -> float:
    headers = exc.response.headers if exc.response is not None else {}
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return min(MAX_RATELIMIT_WAIT, max(0.0, float(value)))
            except (TypeError, ValueError):
                break
    return 1.0


class SlackWeb:
    """The Web API methods the adapter uses, each retried on `ratelimited`."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.client = client
        self.sleep = sleep

    async def call(
        self, method: str, *, read: bool = False, retry: bool = True, **params: Any
    ) -> dict[str, Any]:
        """`read` methods (conversations.replies, users.info) take form params, not JSON.
        `retry=False`: one attempt, for calls that must never hold up an answer (a status)."""
        body = {k: v for k, v in params.items() if v is not None}
        attempts = ATTEMPTS if retry else 1
        for attempt in range(attempts):
            try:
                if read:
                    response = await self.client.api_call(method, params=body)
                else:
                    response = await self.client.api_call(method, json=body)
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as exc:
                code = error_code(exc)
                if code == "ratelimited" and attempt < attempts - 1:
                    wait = _retry_after(exc)
                    log.warning("slack %s rate-limited; waiting %.1fs", method, wait)
                    await self.sleep(wait)
                    continue
                if code in REASONS:
                    log.error(
                        "slack %s failed in %s: %s (%s)",
                        method,
                        body.get("channel", "?"),
                        REASONS[code],
                        code,
                    )
                raise
        raise AssertionError("unreachable")
