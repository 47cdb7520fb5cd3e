"""Socket Mode: the app's lifespan connects bolt's real Socket Mode client to the loopback stub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import envelope, message


@pytest.fixture
async def socket_app(db_url: str, model: ModelServer, slack: SlackAPI) -> AsyncIterator[RunningApp]:
    settings = settings_for(
        db_url,
        model.url,
        SLACK_BOT_TOKEN="xoxb-test-not-a-secret",
        SLACK_APP_TOKEN="xapp-test-not-a-secret",
        SLACK_API_URL=slack.url.rstrip("/"),  # the adapter adds the slash AsyncWebClient needs
    )
    running = await start_app(settings)
    yield running
    await running.stop()


async def test_socket_mode_event_is_acked_and_answered_once(
    socket_app: RunningApp, slack: SlackAPI, model: ModelServer
) -> None:
    model.then(Reply("hi from socket mode"))
    await slack.connected()
    opened = slack.of("apps.connections.open")
    assert opened and opened[0].headers["Authorization"] == "Bearer xapp-test-not-a-secret"
    post = message(f"<@{BOT_USER}> over the socket")
    mention = {**post, "type": "app_mention"}
    await slack.push(envelope(post), "env-1")
    await slack.push(envelope(mention), "env-2")
    await slack.push(envelope(post), "env-3", retry=1)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    await slack.wait_for(
        lambda: {a.get("envelope_id") for a in slack.acks} >= {"env-1", "env-2", "env-3"}
    )
    await slack.wait_quiet(0.4)
    assert len(model.chat_requests()) == 1
    assert [m.text for m in slack.visible()] == ["hi from socket mode"]
    assert slack.visible()[0].thread_ts == post["ts"]
    rows = await socket_app.app.state.service.memory.recent(f"slack:{TEAM}:C0CHAN", 10)
    assert [(r.role, r.text) for r in rows] == [
        ("user", "@chatbot over the socket"),
        ("assistant", "hi from socket mode"),
    ]


async def test_socket_mode_only_app_has_no_http_events_endpoint(
    socket_app: RunningApp, slack: SlackAPI
) -> None:
    async with httpx.AsyncClient(base_url=socket_app.http) as http:
        response = await http.post("/slack/events", content=b"{}")
    assert response.status_code == 404
