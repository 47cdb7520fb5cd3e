"""Showing that it is thinking, and Slack's agent view: prompts, titles, "summarise this channel"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import SECRET, Events, message

STATUS = ("agents.sessions.setStatus", "assistant.threads.setStatus")


def sequence(slack: SlackAPI) -> list[tuple[str, Any]]:
    """The status and stream calls in order, with the status each set."""
    wanted = (*STATUS, "chat.startStream", "chat.appendStream", "chat.stopStream")
    return [(c.method, c.params.get("status")) for c in slack.calls if c.method in wanted]


async def test_loading_status_is_set_before_the_stream_and_cleared_when_it_is_written(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    model.then(Reply("one two three", chunks=["one ", "two ", "three"], chunk_delay=0.05))
    ask = message(f"<@{BOT_USER}> think hard")
    await events.send(ask)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    calls = sequence(slack)
    assert calls[0] == ("agents.sessions.setStatus", "processing")
    assert calls[1][0] == "chat.startStream"
    assert ("agents.sessions.setStatus", "active") in calls
    assert calls.index(("agents.sessions.setStatus", "active")) > max(
        i for i, c in enumerate(calls) if c[0] == "chat.appendStream"
    )
    first = slack.of("agents.sessions.setStatus")[0].params
    assert (first["channel_id"], first["thread_ts"]) == ("C0CHAN", ask["ts"])
    assert first["initiator_user_id"] == "U0ALICE"
    assert slack.of("assistant.threads.setStatus") == []


async def test_an_app_without_agent_sessions_falls_back_to_the_assistant_status_for_good(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.agent_sessions = False  # an app not declared as an agent: unknown_method
    model.then(Reply("first", chunks=["fi", "rst"]), Reply("second", chunks=["sec", "ond"]))
    await events.send(message(f"<@{BOT_USER}> one"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    await events.send(message(f"<@{BOT_USER}> two"))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    assert len(slack.of("agents.sessions.setStatus")) == 1  # tried once, then remembered
    statuses = [c.params["status"] for c in slack.of("assistant.threads.setStatus")]
    assert statuses == ["is thinking…", "", "is thinking…", ""]
    calls = sequence(slack)
    assert calls.index(("assistant.threads.setStatus", "is thinking…")) < calls.index(
        ("chat.startStream", None)
    )
    assert [m.text for m in slack.visible()] == ["first", "second"]


async def test_a_failing_status_never_holds_up_the_answer(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.fail("agents.sessions.setStatus", "ratelimited", status=429, **{"Retry-After": "30"})
    model.then(Reply("answered anyway"))
    await events.send(message(f"<@{BOT_USER}> hello"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"), timeout=4)
    assert [m.text for m in slack.visible()] == ["answered anyway"]
    assert len(slack.of("agents.sessions.setStatus")) == 1  # not retried, not cleared


async def test_opening_the_messages_tab_sets_suggested_prompts_other_tabs_do_not(
    events: Events, slack: SlackAPI
) -> None:
    home = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0DM", "tab": "home"}
    await events.send(home)
    await events.send({**home, "tab": "messages"})
    await slack.wait_for(lambda: slack.of("assistant.threads.setSuggestedPrompts"))
    await slack.wait_quiet(0.3)
    [prompts] = slack.of("assistant.threads.setSuggestedPrompts")
    assert prompts.params["channel_id"] == "D0DM" and "thread_ts" not in prompts.params
    titles = [p["title"] for p in prompts.params["prompts"]]
    assert titles == ["Summarise this channel", "What can you do?", "Draft a reply"]


async def test_each_conversation_in_the_agent_view_is_a_thread_titled_after_its_question(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("Paris."), Reply("Berlin."), Reply("About 3.7 million."))
    first = message("What is the capital of France?", channel="D0DM", channel_type="im")
    await events.send(first)
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 1)
    second = message("And the capital of Germany?", channel="D0DM", channel_type="im")
    await events.send(second)
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    follow = message(
        "How many people live there?",
        channel="D0DM",
        channel_type="im",
        thread_ts=second["ts"],
        parent_user_id="U0ALICE",
    )
    await events.send(follow)
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 3)
    # Titles: each new conversation's first question, and not its follow-ups.
    titles = [
        (c.params.get("thread_ts"), c.params.get("title"))
        for c in slack.of("agents.sessions.setStatus")
        if c.params.get("title")
    ]
    assert titles == [
        (first["ts"], "What is the capital of France?"),
        (second["ts"], "And the capital of Germany?"),
    ]
    # Each conversation has its own memory: the follow-up's context is its thread's alone.
    turns = [t["content"] for t in model.chat_requests()[2]["messages"][1:]]
    assert turns == [
        "alice: And the capital of Germany?",
        "Berlin.",
        "alice: How many people live there?",
    ]
    memory = slack_app.app.state.service.memory
    assert [m.text for m in await memory.recent(f"slack:{TEAM}:D0DM:{first['ts']}", 10)] == [
        "What is the capital of France?",
        "Paris.",
    ]
    assert await memory.recent(f"slack:{TEAM}:D0DM", 10) == []


async def test_a_long_first_question_makes_a_short_title(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.agent_sessions = False  # titled through assistant.threads.setTitle instead
    question = "Could you please explain " + "very " * 30 + "carefully how tides work?"
    await events.send(message(question, channel="D0DM", channel_type="im"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    [title] = [c.params["title"] for c in slack.of("assistant.threads.setTitle")]
    assert title.startswith("Could you please explain very") and title.endswith("…")
    assert len(title) <= 60 and "  " not in title


# -- "summarise this channel" ------------------------------------------------------------------


def looking_at(channel: str, user: str = "U0ALICE") -> dict[str, Any]:
    return {
        "type": "app_context_changed",
        "user": user,
        "channel": "D0DM",
        "context": {"entities": [{"type": "slack#/types/channel_id", "value": channel}]},
    }


def summarise(**extra: Any) -> dict[str, Any]:
    return message("Summarise this channel", channel="D0DM", channel_type="im", **extra)


async def chat_in(events: Events, channel: str, *lines: tuple[str, str]) -> None:
    for user, text in lines:
        await events.send(message(text, channel=channel, user=user))


async def test_summarise_this_channel_reads_the_channel_in_view(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack.channels["C0LUNCH"] = {"name": "lunch", "is_channel": True, "is_member": True}
    slack.members["C0LUNCH"] = ["U0ALICE", "U0BOB", BOT_USER]
    await chat_in(events, "C0LUNCH", ("U0BOB", "pizza on friday?"), ("U0ALICE", "yes, at noon"))
    await events.send(looking_at("C0LUNCH"))
    await slack.wait_quiet(0.3)
    model.then(Reply("Pizza on Friday at noon."))
    ask = summarise()
    await events.send(ask)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    turns = [t["content"] for t in model.chat_requests()[0]["messages"][1:]]
    assert turns[:2] == ["bob: pizza on friday?", "alice: yes, at noon"]
    assert "#lunch" in turns[-1] and "summarise the" in turns[-1]
    assert slack.visible()[-1].thread_ts == ask["ts"]
    memory = slack_app.app.state.service.memory
    thread = await memory.recent(f"slack:{TEAM}:D0DM:{ask['ts']}", 10)
    assert [(m.role, m.text) for m in thread] == [
        ("user", "Summarise this channel"),
        ("assistant", "Pizza on Friday at noon."),
    ]
    assert thread[1].tag == "summary"


async def test_the_context_a_message_carries_wins_over_an_older_one(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    for channel in ("C0OLD", "C0NEW"):
        slack.channels[channel] = {"name": channel.lower(), "is_channel": True, "is_member": True}
        slack.members[channel] = ["U0ALICE", BOT_USER]
    await chat_in(events, "C0OLD", ("U0ALICE", "old news"))
    await chat_in(events, "C0NEW", ("U0ALICE", "fresh news"))
    await events.send(looking_at("C0OLD"))
    await slack.wait_quiet(0.3)
    context = {"entities": [{"type": "slack#/types/channel_id", "value": "C0NEW"}]}
    await events.send(summarise(app_context=context))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    turns = [t["content"] for t in model.chat_requests()[0]["messages"][1:]]
    assert turns[0] == "alice: fresh news" and "#c0new" in turns[-1]


@pytest.mark.parametrize(
    ("channel", "members", "extra", "line"),
    [
        # The app is not a member: never read, whoever asks.
        (
            {"name": "secret", "is_channel": True, "is_member": False},
            ["U0ALICE"],
            {},
            "not a member",
        ),
        # A channel Slack will not even show the app.
        (None, None, {}, "not a member"),
        # A private channel the app is in but the person is not.
        (
            {"name": "hr", "is_group": True, "is_private": True, "is_member": True},
            [BOT_USER],
            {},
            "You cannot read that channel",
        ),
        # A public channel the person is not in, and a guest who may not read it.
        (
            {"name": "general", "is_channel": True, "is_member": True},
            [BOT_USER],
            {"is_restricted": True},
            "You cannot read that channel",
        ),
    ],
)
async def test_a_channel_the_app_or_the_person_cannot_see_is_refused(
    events: Events,
    slack: SlackAPI,
    model: ModelServer,
    slack_app: RunningApp,
    channel: dict[str, Any] | None,
    members: list[str] | None,
    extra: dict[str, Any],
    line: str,
) -> None:
    if channel is not None:
        slack.channels["C0X"] = channel
    if members is not None:
        slack.members["C0X"] = members
    slack.people["U0ALICE"] = extra
    await chat_in(events, "C0X", ("U0BOB", "the confidential plan is ..."))
    await events.send(looking_at("C0X"))
    await slack.wait_quiet(0.3)
    ask = summarise()
    await events.send(ask)
    await slack.wait_for(lambda: slack.of("chat.postMessage"))
    await slack.wait_quiet(0.3)
    assert model.chat_requests() == []  # nothing of that channel went anywhere
    [said] = [m.text for m in slack.visible() if m.channel == "D0DM"]
    assert line in said and "confidential" not in said
    memory = slack_app.app.state.service.memory
    thread = await memory.recent(f"slack:{TEAM}:D0DM:{ask['ts']}", 10)
    assert [m.text for m in thread] == ["Summarise this channel"]  # the question is kept


async def test_a_public_channel_a_full_member_is_not_in_may_be_summarised(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.channels["C0PUB"] = {"name": "announcements", "is_channel": True, "is_member": True}
    slack.members["C0PUB"] = [BOT_USER]
    await chat_in(events, "C0PUB", ("U0BOB", "the office is closed on monday"))
    await events.send(looking_at("C0PUB"))
    await slack.wait_quiet(0.3)
    await events.send(summarise())
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    turns = [t["content"] for t in model.chat_requests()[0]["messages"][1:]]
    assert turns[0] == "bob: the office is closed on monday"


async def test_without_a_channel_in_view_the_person_is_told_how(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    await events.send(summarise())
    await slack.wait_for(lambda: slack.of("chat.postMessage"))
    assert "which channel you are looking at" in slack.visible()[-1].text
    assert model.chat_requests() == []


@pytest.fixture
async def assistant_only(
    db_url: str, model: ModelServer, slack: SlackAPI
) -> AsyncIterator[RunningApp]:
    settings = settings_for(
        db_url,
        model.url,
        SLACK_BOT_TOKEN="xoxb-test-not-a-secret",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.url,
        CHATBOT_SLACK_STATUS="assistant",
    )
    running = await start_app(settings)
    yield running
    await running.stop()


async def test_the_assistant_status_can_be_chosen(
    assistant_only: RunningApp, slack: SlackAPI, model: ModelServer
) -> None:
    events = Events(assistant_only)
    await events.send(message(f"<@{BOT_USER}> hi"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert slack.of("agents.sessions.setStatus") == []
    assert [c.params["status"] for c in slack.of("assistant.threads.setStatus")] == [
        "is thinking…",
        "",
    ]
    await events.close()
