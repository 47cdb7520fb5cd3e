"""The Slack adapter over the Events API: signed requests through the app's real HTTP route."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from bot.types import CounterKey
from testing.stubs.model_server import ModelServer, Reply
from testing.stubs.slack_api import BOT_ID, BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp
from tests.slack_support import Events, envelope, message, signed_headers


def answers(slack: SlackAPI) -> list[str]:
    return [m.text for m in slack.visible()]


async def stored(app: RunningApp, channel: str) -> list[tuple[str, str]]:
    rows = await app.app.state.service.memory.recent(channel, 100)
    return [(m.role, m.text) for m in rows]


async def test_mention_in_channel_streams_answer_into_its_thread(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("Hello **there**, Alice!", chunks=["Hello ", "**there**", ", Alice!"]))
    ask = message(f"<@{BOT_USER}> hi there")
    response = await events.send(ask)
    assert response.status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    start = slack.of("chat.startStream")[0].params
    assert start["channel"] == "C0CHAN" and start["thread_ts"] == ask["ts"]
    assert start["recipient_user_id"] == "U0ALICE" and start["recipient_team_id"] == TEAM
    assert len(slack.of("chat.appendStream")) >= 1
    assert answers(slack) == ["Hello **there**, Alice!"]
    assert not slack.visible()[0].streaming
    # The model saw the mention as the core's tag, stripped, with the author's name.
    last = model.chat_requests()[0]["messages"][-1]
    assert last == {"role": "user", "content": "alice: hi there"}
    key = f"slack:{TEAM}:C0CHAN"
    assert await stored(slack_app, key) == [
        ("user", "@chatbot hi there"),
        ("assistant", "Hello **there**, Alice!"),
    ]


async def test_plain_channel_message_is_stored_not_answered(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    await events.send(message("my name is Minseo, by the way"))
    await events.send(message(f"<@{BOT_USER}> what is my name?", user="U0MINSEO"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert len(model.chat_requests()) == 1
    turns = model.chat_requests()[0]["messages"]
    assert "my name is Minseo" in json.dumps(turns, ensure_ascii=False)


async def test_direct_message_is_answered_without_mention(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    dm = message("안녕?", channel="D0DM", channel_type="im")
    await events.send(dm)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert slack.visible()[0].channel == "D0DM"
    assert slack.visible()[0].thread_ts == dm["ts"]
    assert model.chat_requests()[0]["messages"][-1]["content"] == "alice: 안녕?"


async def test_app_mention_and_message_for_one_post_and_retries_answer_once(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    post = message(f"<@{BOT_USER}> once please")
    mention = {**post, "type": "app_mention"}
    mention.pop("channel_type")
    assert (await events.send(post)).status_code == 200
    assert (await events.send(mention)).status_code == 200
    assert (await events.send(post, retry=1)).status_code == 200
    assert (await events.send(mention, retry=2)).status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    await slack.wait_quiet(0.4)
    assert len(model.chat_requests()) == 1
    assert len(slack.of("chat.startStream")) == 1
    assert await stored(slack_app, f"slack:{TEAM}:C0CHAN") == [
        ("user", "@chatbot once please"),
        ("assistant", "answer 1"),
    ]


async def test_thread_follow_up_without_mention_and_memories_kept_apart(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("The capital is Paris."), Reply("About 2.1 million people."))
    ask = message(f"<@{BOT_USER}> capital of France?")
    await events.send(ask)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    answer = slack.visible()[0]
    # What Slack holds of the thread: the question and the bot's streamed answer.
    slack.threads[ask["ts"]] = [
        {"type": "message", "user": "U0ALICE", "text": ask["text"], "ts": ask["ts"]},
        {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": answer.text,
            "ts": answer.ts,
            "thread_ts": ask["ts"],
        },
    ]
    follow = message("and its population?", thread_ts=ask["ts"], parent_user_id="U0ALICE")
    slack.threads[ask["ts"]].append({**follow})
    await events.send(follow)
    await events.send(message("unrelated chat in the channel"))
    await slack.wait_for(lambda: len(slack.of("chat.stopStream")) == 2)
    second = model.chat_requests()[1]["messages"]
    assert [t["role"] for t in second[1:]] == ["user", "assistant", "user"]
    assert second[1]["content"] == "alice: capital of France?"  # seeded by the core, addressed
    assert second[2]["content"] == "The capital is Paris."
    assert second[-1]["content"] == "alice: and its population?"
    assert slack.visible()[1].thread_ts == ask["ts"]
    channel = await stored(slack_app, f"slack:{TEAM}:C0CHAN")
    thread = await stored(slack_app, f"slack:{TEAM}:C0CHAN:{ask['ts']}")
    assert ("user", "unrelated chat in the channel") in channel
    assert ("user", "and its population?") not in channel
    assert thread[-1] == ("assistant", "About 2.1 million people.")
    assert ("user", "unrelated chat in the channel") not in thread
    # Spending counts the thread's answer with its channel (channel limits cover threads).
    store = slack_app.app.state.store
    today = datetime.now(UTC).date()
    [counted] = await store.spent([CounterKey("channel", f"slack:{TEAM}:C0CHAN")], today)
    assert counted.answers == 2


async def test_thread_without_the_bot_is_not_answered(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    parent = message("lunch?")
    slack.threads[parent["ts"]] = [
        {"type": "message", "user": "U0ALICE", "text": "lunch?", "ts": parent["ts"]}
    ]
    await events.send(parent)
    await events.send(message("sure", user="U0BOB", thread_ts=parent["ts"]))
    await slack.wait_quiet(0.4)
    assert model.chat_requests() == []
    thread = await stored(slack_app, f"slack:{TEAM}:C0CHAN:{parent['ts']}")
    assert thread == [("user", "lunch?"), ("user", "sure")]


async def test_other_bots_ignored_unless_they_tag_us_and_self_dropped(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    other = {"bot_id": "B0OTHER", "subtype": "bot_message", "username": "otherbot"}
    await events.send(message("beep, status report", user="", **other))
    await events.send(message("boop", channel="D0DM", channel_type="im", user="", **other))
    await events.send(message("my own words", user=BOT_USER, bot_id=BOT_ID))
    await slack.wait_quiet(0.4)
    assert model.chat_requests() == []
    await events.send(message(f"<@{BOT_USER}> report please", user="", **other))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert model.chat_requests()[0]["messages"][-1]["content"] == "otherbot: report please"
    assert ("user", "my own words") not in await stored(slack_app, f"slack:{TEAM}:C0CHAN")


async def test_another_bot_is_answered_at_most_three_times_in_a_row_until_a_person_speaks(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    other = {"bot_id": "B0OTHER", "subtype": "bot_message", "username": "otherbot"}
    for i in range(5):
        await events.send(message(f"<@{BOT_USER}> round {i}", user="", **other))
        await slack.wait_quiet(0.2)
    assert len(model.chat_requests()) == 3  # CHATBOT_MAX_BOT_TURNS, the same rule as Discord
    said = [t for r, t in await stored(slack_app, f"slack:{TEAM}:C0CHAN") if r == "user"]
    assert said == [f"@chatbot round {i}" for i in range(5)]  # all remembered
    await events.send(message("a person says hello"))
    await slack.wait_quiet(0.3)  # stored before the bot's next post arrives
    await events.send(message(f"<@{BOT_USER}> round 5", user="", **other))
    await slack.wait_for(lambda: len(model.chat_requests()) == 4)


async def test_a_lone_surrogate_in_an_event_is_repaired_and_answered(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    response = await events.send(message(f"<@{BOT_USER}> broken \ud800 text"))
    assert response.status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert model.chat_requests()[0]["messages"][-1]["content"] == "alice: broken \ufffd text"
    assert ("user", "@chatbot broken \ufffd text") in await stored(
        slack_app, f"slack:{TEAM}:C0CHAN"
    )


async def test_forged_and_stale_signatures_get_401_and_reach_nothing(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    body = json.dumps(envelope(message(f"<@{BOT_USER}> forged"))).encode()
    forged = await events.post_raw(body, signed_headers(body, secret="not-the-secret"))
    stale = await events.post_raw(body, signed_headers(body, timestamp=int(time.time()) - 3600))
    unsigned = await events.post_raw(body, {"Content-Type": "application/json"})
    assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
    await slack.wait_quiet(0.3)
    assert model.chat_requests() == [] and slack.calls == []
    assert await stored(slack_app, f"slack:{TEAM}:C0CHAN") == []


async def test_malformed_body_gets_400_and_unknown_events_are_acked(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    for body in (b'{"type": "event_callback", "event": ', b"[1, 2, 3]", b"just words"):
        response = await events.post_raw(body, signed_headers(body))
        assert response.status_code == 400, body
    not_utf8 = await events.post_raw(b"\xff\xfe", signed_headers(b"{}"))
    assert not_utf8.status_code == 400
    reaction = {"type": "reaction_added", "user": "U0ALICE", "reaction": "tada", "event_ts": "1.2"}
    assert (await events.send(reaction)).status_code == 200
    edited = message("edited", subtype="message_changed")
    assert (await events.send(edited)).status_code == 200
    challenge = await events.send_body({"type": "url_verification", "challenge": "abc123"})
    assert challenge.status_code == 200 and "abc123" in challenge.text
    await slack.wait_quiet(0.3)
    assert model.chat_requests() == []
    # The service is still up and answering.
    await events.send(message(f"<@{BOT_USER}> still there?"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))


async def test_event_is_acknowledged_before_the_answer_is_written(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Reply("slow answer", delay=2.0))
    response = await events.send(message(f"<@{BOT_USER}> take your time"))
    assert response.status_code == 200
    assert slack.of("chat.startStream") == [] and slack.of("chat.postMessage") == []
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert [m.text for m in slack.visible()] == ["slow answer"]
