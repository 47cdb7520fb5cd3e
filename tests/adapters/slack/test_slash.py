"""The slash command over HTTP (signed, form-encoded) and Socket Mode, with real bolt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.slack.mrkdwn import to_mrkdwn
from bot.types import Author, IncomingMessage
from testing.fakes import RecordingTarget
from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import Events, message, signed_headers, slash


async def ask(events: Events, slack: SlackAPI, text: str, name: str, **kw: str) -> str:
    """Run `/chatbot <text>`; the one ephemeral reply it gets."""
    response = await events.command(slash(text, response_url=slack.response_url(name), **kw))
    assert response.status_code == 200 and response.text == ""  # acked at once, silently
    await slack.wait_for(lambda: slack.responded(name))
    [reply] = slack.responded(name)
    assert reply["response_type"] == "ephemeral"
    return str(reply["text"])


async def test_help_usage_and_reset_are_the_cores_replies_only_the_asker_sees(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    assert "Tags here" in await ask(events, slack, "help", "h1")
    assert "Tags here" in await ask(events, slack, "", "h2")  # nothing: help
    await events.send(message(f"<@{BOT_USER}> hello"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    usage = await ask(events, slack, "usage", "u1")
    assert usage.startswith("Tokens in this channel today (UTC):") and "gpt-4.1" in usage
    # `@chatbot reset`'s rule: a channel needs an allowed user or role; a DM is the person's.
    refused = await ask(events, slack, "reset", "r1")
    assert "Only members with an allowed role may reset" in refused
    service = slack_app.app.state.service
    assert (await service.memory.state(f"slack:{TEAM}:C0CHAN")).reset_after_id == 0
    done = await ask(events, slack, "reset", "r2", channel="D0DM", channel_name="directmessage")
    assert done.startswith("Done: I forgot this channel")
    # Nothing the commands said reached a channel, the model, or memory.
    assert len(model.chat_requests()) == 1 and len(slack.visible()) == 1
    assert len(await service.memory.recent(f"slack:{TEAM}:C0CHAN", 10)) == 2


async def test_memory_goes_to_the_cores_command_path_by_name(
    events: Events, slack: SlackAPI, slack_app: RunningApp
) -> None:
    service = slack_app.app.state.service
    direct = RecordingTarget()
    said = IncomingMessage("slack", f"slack:{TEAM}:C0CHAN", None, Author("U0ALICE", "alice"), "")
    await service.command("memory", said, direct)
    assert await ask(events, slack, "memory", "m1") == to_mrkdwn(direct.texts()[0])


async def test_ask_posts_the_question_and_answers_in_its_thread_with_its_memory(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("A systems language.", chunks=["A systems ", "language."]))
    fields = slash("ask what is rust?", response_url=slack.response_url("a1"))
    assert (await events.command(fields)).status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    question, answer = slack.visible()
    assert question.text == "*alice asks:* what is rust?" and question.thread_ts is None
    assert answer.thread_ts == question.ts and answer.text == "A systems language."
    assert model.chat_requests()[0]["messages"][-1] == {
        "role": "user",
        "content": "alice: what is rust?",
    }
    assert slack.of("agents.sessions.setStatus")  # thinking, as for any question
    rows = await slack_app.app.state.service.memory.recent(f"slack:{TEAM}:C0CHAN:{question.ts}", 10)
    assert [(r.role, r.text, r.tag) for r in rows] == [
        ("user", "what is rust?", "chatbot"),
        ("assistant", "A systems language.", "chatbot"),
    ]
    assert slack.responded("a1") == []
    # A follow-up in that thread continues the conversation, no mention needed.
    model.then(Reply("Mozilla started it."))
    await events.send(message("who made it?", thread_ts=question.ts, parent_user_id=BOT_USER))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    turns = [t["content"] for t in model.chat_requests()[1]["messages"][1:]]
    assert turns == ["alice: what is rust?", "A systems language.", "alice: who made it?"]


async def test_ask_where_the_app_may_not_post_hands_the_question_back(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.fail("chat.postMessage", "not_in_channel")
    reply = await ask(events, slack, "ask is it lunch yet?", "n1")
    assert "could not post your question here" in reply and "is it lunch yet?" in reply
    assert "/invite @chatbot" in reply
    assert model.chat_requests() == []
    assert "Write the question after" in await ask(events, slack, "ask", "n2")


async def test_an_unknown_subcommand_gets_the_usage_line(events: Events, slack: SlackAPI) -> None:
    line = await ask(events, slack, "frobnicate now", "x1")
    assert "`/chatbot ask &lt;question&gt;`" in line and "`/chatbot memory`" in line  # mrkdwn


async def test_an_unsigned_slash_command_is_refused(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    from urllib.parse import urlencode

    body = urlencode(slash("ask hi", response_url=slack.response_url("f1"))).encode()
    headers = signed_headers(body, secret="not-the-secret")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await events.post_raw(body, headers)).status_code == 401
    await slack.wait_quiet(0.3)
    assert slack.calls == [] and slack.responded("f1") == []


@pytest.fixture
async def socket_app(db_url: str, model: ModelServer, slack: SlackAPI) -> AsyncIterator[RunningApp]:
    settings = settings_for(
        db_url,
        model.url,
        SLACK_BOT_TOKEN="xoxb-test-not-a-secret",
        SLACK_APP_TOKEN="xapp-test-not-a-secret",
        SLACK_API_URL=slack.url,
        CHATBOT_SLACK_COMMAND="/askbot",
    )
    running = await start_app(settings)
    yield running
    await running.stop()


async def test_the_slash_command_over_socket_mode_is_acked_and_answered(
    socket_app: RunningApp, slack: SlackAPI, model: ModelServer
) -> None:
    model.then(Reply("Hello over the socket."))
    await slack.connected()
    fields = slash("help", response_url=slack.response_url("s1"), command="/askbot")
    await slack.push(fields, "env-cmd-1", kind="slash_commands")
    await slack.wait_for(lambda: slack.responded("s1"))
    assert "Tags here" in slack.responded("s1")[0]["text"]
    assert "env-cmd-1" in {a.get("envelope_id") for a in slack.acks}
    asked = slash("ask hello?", response_url=slack.response_url("s2"), command="/askbot")
    await slack.push(asked, "env-cmd-2", kind="slash_commands")
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert [m.text for m in slack.visible()] == ["*alice asks:* hello?", "Hello over the socket."]


async def test_a_command_named_otherwise_than_configured_is_explained(
    events: Events, slack: SlackAPI
) -> None:
    fields = slash("help", response_url=slack.response_url("o1"), command="/other")
    response = await events.command(fields)
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "This app answers /chatbot" in response.json()["text"]
