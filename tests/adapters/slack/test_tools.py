"""Tools on Slack: slack-bolt and slack-sdk against the loopback Slack, the real app, the stub model.

Each tool round is a task card in the streamed answer (`task_update` chunks in Slack's timeline);
where Slack refuses the stream, a status line in the message; a tag's tools may be limited to
users (Slack roles are not read)."""

from __future__ import annotations

from pathlib import Path

from testing.stubs.model_server import ModelServer, Reply, ToolCalls
from testing.stubs.slack_api import BOT_TOKEN, BOT_USER, SlackAPI
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import SECRET, Events, message


def ask(text: str, user: str = "U0ALICE") -> dict[str, object]:
    return message(f"<@{BOT_USER}> {text}", user=user)


async def test_a_tool_round_is_a_task_card_in_the_stream(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(
        ToolCalls([("current_time", '{"time_zone": "Asia/Seoul"}')]),
        Reply("It is 9 pm in Seoul."),
    )
    await events.send(ask("time in Seoul?"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    start = slack.of("chat.startStream")[0].params
    assert start["task_display_mode"] == "timeline" and "markdown_text" not in start
    assert start["chunks"] == [
        {
            "type": "task_update",
            "id": "tools-1",
            "title": "checking the time…",
            "status": "in_progress",
        }
    ]
    (answer,) = slack.visible()
    assert answer.tasks == {"tools-1": ("checking the time…", "complete")}
    assert answer.text == "It is 9 pm in Seoul." and not answer.streaming


async def test_a_failed_call_marks_its_card_as_an_error(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(ToolCalls([("no_such_tool", "{}")]), Reply("That tool is not there."))
    await events.send(ask("use a tool that does not exist"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    (answer,) = slack.visible()
    assert answer.tasks == {"tools-1": ("using no_such_tool…", "error")}


async def test_where_slack_refuses_the_stream_a_status_line_shows_instead(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack.fail("chat.startStream", "not_allowed_token_type")
    model.then(ToolCalls([("current_time", "{}")], delay=0.0), Reply("Noon."))
    await events.send(ask("time?"))
    await slack.wait_for(lambda: [m.text for m in slack.visible()] == ["Noon."])
    posts = slack.of("chat.postMessage")
    assert posts[0].params["text"] == "_checking the time…_"  # the placeholder is the status
    assert slack.of("chat.update")[-1].params["text"] == "Noon."


async def start_limited(
    db_url: str, model: ModelServer, slack: SlackAPI, tmp_path: Path
) -> RunningApp:
    config = tmp_path / "chatbot.toml"
    config.write_text('[tags.chatbot]\ntools = ["current_time"]\ntool_users = ["slack:U0BOB"]\n')
    settings = settings_for(
        db_url,
        model.url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.url,
        CHATBOT_CONFIG=str(config),
    )
    return await start_app(settings)


async def test_tools_limited_to_a_user(
    db_url: str, model: ModelServer, slack: SlackAPI, tmp_path: Path
) -> None:
    app = await start_limited(db_url, model, slack, tmp_path)
    events = Events(app)
    try:
        await events.send(ask("alice asks"))
        await slack.wait_for(lambda: len(slack.visible()) == 1)
        await events.send(ask("bob asks", user="U0BOB"))
        await slack.wait_for(lambda: len(slack.visible()) == 2)
        offered = [
            [t["function"]["name"] for t in b.get("tools", [])] for b in model.chat_requests()
        ]
        assert offered == [[], ["current_time"]]
    finally:
        await events.close()
        await app.stop()
