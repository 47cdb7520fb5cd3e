"""Slack test plumbing: signed Events API requests into the real app, and event payloads."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from testing.stubs.model_server import ModelServer
from testing.stubs.slack_api import BOT_TOKEN, BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp, settings_for, start_app

SECRET = "test-signing-secret-not-real"
_ids = itertools.count(1)
_ts = itertools.count(1)


def new_ts() -> str:
    return f"1700000000.{next(_ts):06d}"


def message(
    text: str,
    *,
    channel: str = "C0CHAN",
    user: str = "U0ALICE",
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    kind: str = "message",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or new_ts(),
        "team": TEAM,
        **extra,
    }
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def envelope(event: dict[str, Any], team: str | None = None) -> dict[str, Any]:
    team = team or str(event.get("team") or TEAM)
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
    }


def slash(
    text: str,
    *,
    response_url: str,
    channel: str = "C0CHAN",
    user: str = "U0ALICE",
    team: str = TEAM,
    command: str = "/chatbot",
    channel_name: str = "general",
) -> dict[str, str]:
    """A slash command's fields, as Slack posts them (a form) or sends them over the socket."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": "alice",
        "command": command,
        "text": text,
        "api_app_id": "A0APP",
        "response_url": response_url,
        "trigger_id": f"trigger-{next(_ids)}",
    }


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


class Events:
    """Posts signed Events API requests to the app's real `/slack/events` route."""

    def __init__(self, app: RunningApp):
        self.app = app
        self.http = httpx.AsyncClient(base_url=app.http, timeout=10)

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def send(
        self, event: dict[str, Any], retry: int | None = None, team: str | None = None
    ) -> httpx.Response:
        return await self.send_body(envelope(event, team), retry)

    async def command(self, fields: dict[str, str]) -> httpx.Response:
        """A signed slash command, form-encoded as Slack sends it."""
        body = urlencode(fields).encode()
        headers = signed_headers(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.post_raw(body, headers)

    async def send_body(self, payload: dict[str, Any], retry: int | None = None) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = signed_headers(body)
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.post_raw(body, headers)

    async def close(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def slack() -> AsyncIterator[SlackAPI]:
    server = await SlackAPI().start()
    server.names.update(U0ALICE="alice", U0BOB="bob", U0MINSEO="minseo")
    yield server
    await server.stop()


@pytest.fixture
async def slack_app(db_url: str, model: ModelServer, slack: SlackAPI) -> AsyncIterator[RunningApp]:
    settings = settings_for(
        db_url,
        model.url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.url,
        CHATBOT_FILE_HOSTS=slack.root.removeprefix("http://"),  # the stub is the file host
    )
    running = await start_app(settings)
    running.app.state.adapters["slack"].flush_interval = 0.0  # every delta its own appendStream
    yield running
    await running.stop()


@pytest.fixture
async def events(slack_app: RunningApp) -> AsyncIterator[Events]:
    client = Events(slack_app)
    yield client
    await client.close()
