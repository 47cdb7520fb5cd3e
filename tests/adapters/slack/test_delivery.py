"""How answers reach Slack: native stream, chat.update fallback, splitting, Web API errors."""

from __future__ import annotations

import logging

import pytest

from adapters.slack.mrkdwn import to_mrkdwn
from testing.stubs.model_server import ModelServer, Reply, Status
from testing.stubs.slack_api import BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp
from tests.slack_support import Events, message


def ask(text: str = "tell me") -> dict[str, object]:
    return message(f"<@{BOT_USER}> {text}")


def long_answer() -> str:
    prose = " ".join(f"Sentence number {i} says something useful." for i in range(60))
    code = "\n".join(f"    value_{i} = compute({i}) * 2  # step {i}" for i in range(70))
    return f"{prose}\n\n```python\ndef f():\n{code}\n    return 1\n```\n\n{prose}"


async def test_stream_falls_back_to_chat_update_when_start_is_refused(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack.fail("chat.startStream", "not_allowed_token_type")
    text = "First **part**, then the second part, then the end."
    model.then(
        Reply(
            text,
            chunks=["First **part**, ", "then the second part, ", "then the end."],
            chunk_delay=0.4,
        )
    )
    await events.send(ask())
    await slack.wait_for(lambda: slack.visible() and slack.visible()[0].text == to_mrkdwn(text))
    await slack.wait_quiet(0.3)
    posts, updates = slack.of("chat.postMessage"), slack.of("chat.update")
    assert len(posts) == 1 and posts[0].params["text"].endswith("…")  # the placeholder
    assert 1 <= len(updates) <= 3  # throttled: about once a second, plus the final text
    assert slack.of("chat.appendStream") == [] and slack.of("chat.stopStream") == []
    assert [m.text for m in slack.visible()] == [
        "First *part*, then the second part, then the end."
    ]


async def test_stream_that_expires_midway_is_finished_with_chat_update(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack.fail("chat.appendStream", "message_not_in_streaming_state")
    model.then(Reply("one two three four", chunks=["one ", "two ", "three ", "four"]))
    await events.send(ask())
    await slack.wait_for(lambda: slack.of("chat.update"))
    await slack.wait_quiet(0.3)
    assert len(slack.of("chat.startStream")) == 1
    assert [m.text for m in slack.visible()] == ["one two three four"]


async def test_long_streamed_answer_is_split_into_valid_parts(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    text = long_answer()
    assert len(text) > 6_000
    model.then(Reply(text, chunks=[text[i : i + 300] for i in range(0, len(text), 300)]))
    await events.send(ask())
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    await slack.wait_quiet(0.3)
    parts = [m.text for m in slack.visible()]
    assert len(parts) >= 2
    for part in parts:
        assert len(part.encode()) <= 3_600
        assert part.count("```") % 2 == 0, part
    assert all(m.thread_ts == slack.visible()[0].thread_ts for m in slack.visible())
    assert "Sentence number 59" in parts[-1] and "value_69" in "".join(parts)


async def test_long_answer_without_stream_is_split_into_valid_parts(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack_app.app.state.adapters["slack"].streaming = False
    model.then(Reply(long_answer()))
    await events.send(ask())
    await slack.wait_for(lambda: len(slack.visible()) >= 2)
    await slack.wait_quiet(0.5)
    parts = [m.text for m in slack.visible()]
    assert len(parts) >= 2
    for part in parts:
        assert len(part.encode()) <= 3_500
        assert part.count("```") % 2 == 0, part
    joined = "".join(parts)
    assert all(f"value_{i} " in joined for i in range(70))


async def test_model_output_never_pings(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    evil = "Hey <!everyone> and <!here>, <@U0ALICE> look: <!channel>"
    model.then(Reply(evil), Reply(evil))
    await events.send(ask())
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    streamed = slack.visible()[0].text
    for ping in ("<!everyone>", "<!here>", "<@U0ALICE>", "<!channel>"):
        assert ping not in streamed
    slack_app.app.state.adapters["slack"].streaming = False
    await events.send(ask("again"))
    await slack.wait_for(
        lambda: len(slack.visible()) == 2 and not slack.visible()[1].text.endswith("…")
    )
    posted = slack.visible()[1].text
    assert "<" not in posted and "&lt;!everyone&gt;" in posted


async def test_error_line_is_styled_and_conversation_kept(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    model.then(Status(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))
    await events.send(ask("hello?"))
    await slack.wait_for(lambda: slack.of("chat.postMessage"))
    text = slack.of("chat.postMessage")[0].params["text"]
    assert text.startswith("⚠️") and "credentials" in text
    rows = await slack_app.app.state.service.memory.recent(f"slack:{TEAM}:C0CHAN", 10)
    assert [r.text for r in rows] == ["@chatbot hello?"]


async def test_rate_limited_call_waits_and_retries(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack.fail("chat.startStream", "ratelimited", 429, **{"Retry-After": "0"})
    await events.send(ask())
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert len(slack.of("chat.startStream")) == 2
    assert [m.text for m in slack.visible()] == ["answer 1"]


async def test_msg_too_long_is_split_smaller(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack_app.app.state.adapters["slack"].streaming = False
    slack.fail("chat.postMessage", "msg_too_long")
    model.then(Reply("Short enough, we thought."))
    await events.send(ask())
    await slack.wait_for(lambda: slack.visible())
    await slack.wait_quiet(0.3)
    assert len(slack.of("chat.postMessage")) >= 2
    assert slack.visible()[-1].text == "Short enough, we thought."


async def test_not_in_channel_is_logged_clearly_and_conversation_kept(
    events: Events,
    slack: SlackAPI,
    model: ModelServer,
    slack_app: RunningApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    slack.fail("chat.startStream", "not_in_channel")
    slack.fail("chat.postMessage", "not_in_channel")
    slack.fail("chat.postMessage", "not_in_channel")
    model.then(Reply("you will not see this"))
    await events.send(ask("are you there?"))
    await slack.wait_for(lambda: len(slack.of("chat.postMessage")) >= 2)
    await slack.wait_quiet(0.3)
    assert "not a member of the channel" in caplog.text
    rows = await slack_app.app.state.service.memory.recent(f"slack:{TEAM}:C0CHAN", 10)
    assert [(r.role, r.text) for r in rows] == [
        ("user", "@chatbot are you there?"),
        ("assistant", "you will not see this"),
    ]
    # The next message still works.
    await events.send(ask("now?"))
    await slack.wait_for(lambda: slack.visible())


async def test_error_after_a_partial_stream_ends_the_same_message(slack: SlackAPI) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.api import SlackWeb
    from adapters.slack.target import SlackThreadTarget, ThreadPlace
    from bot.delivery import Delivery
    from bot.errors import ErrorKind

    web = SlackWeb(AsyncWebClient(token="xoxb-test", base_url=slack.url))
    target = SlackThreadTarget(
        web, ThreadPlace("C0CHAN", "1.1", TEAM, "U0ALICE"), default_persona="chatbot"
    )
    delivery = Delivery(target, "chatbot")
    await delivery.on_delta("The answer starts <!here> ")
    await delivery.on_delta("and then")
    await delivery.fail("The model timed out without answering.", ErrorKind.TIMEOUT)
    [shown] = slack.visible()
    assert not shown.streaming and shown.thread_ts == "1.1"
    assert shown.text.replace("\u2060", "") == (
        "The answer starts <!here> and then\n\n⚠️ _The model timed out without answering._"
    )
    assert "<!here>" not in shown.text
