"""Slack files end to end: a signed event with `files`, the bytes downloaded from the stub's file
host with the bot token, the image part in the model request over the openai SDK."""

from __future__ import annotations

import base64

from testing.images import SVG_WITH_SCRIPT, png, size_of
from testing.stubs.model_server import ModelServer
from testing.stubs.slack_api import BOT_TOKEN, BOT_USER, TEAM, SlackAPI
from tests.helpers import RunningApp
from tests.slack_support import Events, message


async def test_an_image_shared_with_a_mention_is_downloaded_with_the_token(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    shot = slack.serve("screenshot.png", png(90, 50))
    ask = message(f"<@{BOT_USER}> what is wrong here?", subtype="file_share", files=[shot])
    assert (await events.send(ask)).status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert slack.file_requests == [
        (shot["url_private_download"].removeprefix(slack.root), f"Bearer {BOT_TOKEN}")
    ]
    last = model.chat_requests()[0]["messages"][-1]
    text, image = last["content"]
    assert text == {"type": "text", "text": "alice: what is wrong here?\n[image: screenshot.png]"}
    assert image["type"] == "image_url"
    head, _, data = image["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64"
    assert size_of(base64.b64decode(data)) == (90, 50)
    service = slack_app.app.state.service
    (stored,) = await service.history(f"slack:{TEAM}:C0CHAN", 1, after_id=0)
    assert stored.role == "assistant"  # the question is stored before it, with its file
    question = (await service.history(f"slack:{TEAM}:C0CHAN", 2))[0]
    assert [(f.name, f.kind) for f in question.attachments] == [("screenshot.png", "image")]


async def test_files_in_plain_chat_are_not_downloaded(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    notes = slack.serve("notes.txt", b"the exam is on friday", "text/plain")
    await events.send(message("my notes", subtype="file_share", files=[notes]))
    await events.send(message(f"<@{BOT_USER}> when is the exam?", user="U0BOB"))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert slack.file_requests == []
    messages = model.chat_requests()[0]["messages"]
    assert messages[-2] == {"role": "user", "content": "alice: my notes\n[attachment: notes.txt]"}


async def test_a_text_file_becomes_text_and_an_svg_gets_one_line(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    notes = slack.serve("notes.txt", "시험은 금요일".encode(), "text/plain")
    logo = slack.serve("logo.png", SVG_WITH_SCRIPT, "image/png")  # its name and type lie
    ask = message(f"<@{BOT_USER}> read these", subtype="file_share", files=[notes, logo])
    await events.send(ask)
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    # One line, to the sender only (an ephemeral message in the thread).
    posts = [c.params for c in slack.of("chat.postEphemeral")]
    assert [(p["text"], p["user"]) for p in posts] == [
        ("⚠️ _logo.png: SVG images are not supported; send a PNG, JPEG, WebP or GIF._", "U0ALICE")
    ]
    assert posts[0]["thread_ts"] == ask["ts"]
    assert slack.of("chat.postMessage") == []
    last = model.chat_requests()[0]["messages"][-1]
    assert last["content"].startswith(
        "alice: read these\n[file: notes.txt]\n```\n시험은 금요일\n```\n[attachment: logo.png (not read"
    )


async def test_a_file_url_off_slacks_host_is_never_fetched(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    shot = slack.serve("shot.png", png())
    # A file object pointing elsewhere (an "external" file, or a forged event): not fetched.
    shot["url_private_download"] = shot["url_private"] = "http://127.0.0.2:9/files-pri/x.png"
    await events.send(message(f"<@{BOT_USER}> look", subtype="file_share", files=[shot]))
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert slack.file_requests == []
    posts = [c.params["text"] for c in slack.of("chat.postEphemeral")]
    assert posts == ["⚠️ _shot.png is not on a file host I may download from._"]
    assert "[attachment: shot.png (not read" in model.chat_requests()[0]["messages"][-1]["content"]
