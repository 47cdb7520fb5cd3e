"""A persona's own name and icon on the wire (or its label without the scope); edits and deletions."""

from __future__ import annotations

import asyncio

from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import BOT_USER, SCOPES, TEAM, SlackAPI
from tests.helpers import RunningApp
from tests.slack_support import Events, message


async def test_a_persona_streams_and_posts_under_its_own_name_and_icon(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    model.then(Reply("Once upon a time…", chunks=["Once ", "upon a time…"]))
    await events.send(message(f"<@{BOT_USER}> dragon tell me a tale"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    start = slack.of("chat.startStream")[0].params
    assert (start["username"], start["icon_emoji"]) == ("Ember the dragon", ":dragon:")
    assert "icon_url" not in start
    assert slack.visible()[0].text == "Once upon a time…"  # no `*dragon:*` label
    status = slack.of("agents.sessions.setStatus")[0].params
    assert status["username"] == "Ember the dragon"  # the status shows who is thinking
    # Without a stream (Slack refused it) the post carries the same name and icon.
    slack.fail("chat.startStream", "not_allowed_token_type")
    model.then(Reply("A second tale."))
    await events.send(message(f"<@{BOT_USER}> dragon another"))
    await slack.wait_for(lambda: slack.of("chat.postMessage"))
    await slack.wait_quiet(0.3)
    post = slack.visible()[-1]
    assert (post.username, post.icon_emoji, post.text) == (
        "Ember the dragon",
        ":dragon:",
        "A second tale.",
    )


async def test_the_default_persona_posts_as_the_app(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    await events.send(message(f"<@{BOT_USER}> hi"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    start = slack.of("chat.startStream")[0].params
    assert not {"username", "icon_emoji", "icon_url"} & set(start)


async def test_without_the_customize_scope_a_persona_is_labelled(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    slack.default.scopes = SCOPES.replace(",chat:write.customize", "")
    model.then(Reply("A tale.", chunks=["A ", "tale."]), Reply("Another."))
    await events.send(message(f"<@{BOT_USER}> dragon a tale"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    start = slack.of("chat.startStream")[0].params
    assert "username" not in start and "icon_emoji" not in start
    assert slack.visible()[0].text == "**dragon:** A tale."
    slack.fail("chat.startStream", "not_allowed_token_type")
    await events.send(message(f"<@{BOT_USER}> dragon another"))
    await slack.wait_for(lambda: slack.of("chat.postMessage"))
    await slack.wait_quiet(0.3)
    assert slack.visible()[-1].text == "*dragon:* Another."


async def test_a_refused_name_falls_back_to_the_label(
    events: Events, slack: SlackAPI, model: ModelServer
) -> None:
    # The token's scopes said yes, Slack says no (the scope was removed since): label it.
    slack.fail("chat.startStream", "missing_scope")
    model.then(Reply("A tale.", chunks=["A ", "tale."]))
    await events.send(message(f"<@{BOT_USER}> dragon a tale"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    second = slack.of("chat.startStream")[1].params
    assert "username" not in second
    assert slack.visible()[0].text == "**dragon:** A tale."


# -- edits and deletions --------------------------------------------------------------------


def changed(channel: str, ts: str, text: str, **message_extra: object) -> dict[str, object]:
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "ts": "1700009999.000001",
        "message": {"type": "message", "user": "U0ALICE", "text": text, "ts": ts, **message_extra},
        "previous_message": {"type": "message", "user": "U0ALICE", "text": "?", "ts": ts},
    }


def deleted(channel: str, ts: str, **previous: object) -> dict[str, object]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": "1700009999.000002",
        "deleted_ts": ts,
        "previous_message": {
            "type": "message",
            "user": "U0ALICE",
            "text": "x",
            "ts": ts,
            **previous,
        },
    }


async def stored(slack_app: RunningApp, key: str, count: int) -> None:
    memory = slack_app.app.state.service.memory
    for _ in range(200):
        if len(await memory.recent(key, 50)) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} never held {count} messages")


async def texts(slack_app: RunningApp, key: str) -> list[str]:
    rows = await slack_app.app.state.service.memory.recent(key, 50)
    return [m.text for m in rows]


async def test_an_edited_message_is_remembered_as_edited_and_not_answered_again(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    said = message("my name is Minsu")
    await events.send(said)
    await stored(slack_app, f"slack:{TEAM}:C0CHAN", 1)  # Slack's edits come later than this
    await events.send(changed("C0CHAN", said["ts"], f"my name is Minseo, <@{BOT_USER}>"))
    await slack.wait_quiet(0.3)
    assert await texts(slack_app, f"slack:{TEAM}:C0CHAN") == ["my name is Minseo, @chatbot"]
    assert model.chat_requests() == []  # an edit is never answered
    await events.send(message(f"<@{BOT_USER}> what is my name?"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    turns = [t["content"] for t in model.chat_requests()[0]["messages"][1:]]
    assert turns[0] == "alice: my name is Minseo, @chatbot"


async def test_a_deleted_message_leaves_memory_with_its_copy_in_a_thread(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    parent = message("a secret I regret")
    await events.send(parent)
    await stored(slack_app, f"slack:{TEAM}:C0CHAN", 1)
    slack.threads[parent["ts"]] = [
        {"type": "message", "user": "U0ALICE", "text": parent["text"], "ts": parent["ts"]}
    ]
    reply = message("a reply", user="U0BOB", thread_ts=parent["ts"])
    await events.send(reply)
    await stored(slack_app, f"slack:{TEAM}:C0CHAN:{parent['ts']}", 2)
    thread = f"slack:{TEAM}:C0CHAN:{parent['ts']}"
    assert await texts(slack_app, thread) == ["a secret I regret", "a reply"]  # seeded copy
    await events.send(deleted("C0CHAN", parent["ts"], thread_ts=parent["ts"]))
    await slack.wait_quiet(0.3)
    assert await texts(slack_app, f"slack:{TEAM}:C0CHAN") == []
    assert await texts(slack_app, thread) == ["a reply"]
    await events.send(message(f"<@{BOT_USER}> what did I say?"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert "regret" not in str(model.chat_requests()[0]["messages"])


async def test_edits_of_our_own_answers_and_unreadable_ones_change_nothing(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("the answer"))
    await events.send(message(f"<@{BOT_USER}> a question"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    answer = slack.visible()[0]
    ours = changed("C0CHAN", answer.ts, "edited by Slack", user=BOT_USER, bot_id="B0BOT")
    ours["message"] = {**ours["message"], "user": BOT_USER}  # type: ignore[dict-item]
    assert (await events.send(ours)).status_code == 200
    junk = {"type": "message", "subtype": "message_changed", "channel": "C0CHAN", "message": 7}
    assert (await events.send(junk)).status_code == 200
    gone = {"type": "message", "subtype": "message_deleted", "channel": "C0CHAN"}
    assert (await events.send(gone)).status_code == 200
    await slack.wait_quiet(0.3)
    assert await texts(slack_app, f"slack:{TEAM}:C0CHAN") == ["@chatbot a question", "the answer"]
