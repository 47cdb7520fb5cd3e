"""@chatbot help / reset / usage, and optional moderation, over the real web chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.types import NewMessage, Usage, utcnow
from memory.store import SQLStore
from testing.stubs.model_server import ModelServer
from tests.e2e.test_tags import roles_and_texts, say
from tests.helpers import Client, RunningApp, settings_for, start_app
from tests.tag_harness import Recorder, incoming, service_from, tell


@pytest.fixture
async def configured(
    request: pytest.FixtureRequest, tmp_path: Path, db_url: str, model: ModelServer
) -> AsyncIterator[RunningApp]:
    path = tmp_path / "chatbot.toml"
    path.write_text(request.param, "utf-8")
    running = await start_app(settings_for(db_url, model.url, CHATBOT_CONFIG=str(path)))
    yield running
    await running.stop()


async def test_help_lists_this_channels_tags_one_line_each(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("soyeon"))
    await say(c, "soyeon", "@chatbot help")
    reply = await c.answer()
    lines = reply["message"].splitlines()
    tags = [line.split(":")[0] for line in lines if line.startswith("@")]
    assert tags == ["@chatbot", "@counsel", "@dragon", "@summary", "@translate"]
    assert any(line.startswith("@summary: summarises") for line in lines)
    assert "id" not in reply  # a command reply is not stored
    assert model.chat_requests() == []
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{app.http}/messages")).json()
    assert [m["message"] for m in stored] == ["@chatbot help"]
    await say(c, "soyeon", "@chatbot hi")
    await c.answer()
    # The stored command stays out of the next model call's context.
    assert roles_and_texts(model.chat_requests()[-1])[1:] == [("user", "soyeon: hi")]
    await c.close()


async def test_help_marks_the_channels_default_persona(tmp_path: Path, model: ModelServer) -> None:
    toml = '[channels."web:stories"]\npersona = "dragon"\n'
    async with service_from(toml, tmp_path, model) as (service, _):
        target = Recorder()
        await tell(service, incoming("@chatbot help", "web:stories"), target)
        assert "@dragon (default here): an old dragon" in target.sent[0][0]


async def test_reset_forgets_history_keeps_messages_and_clears_the_chain(
    app: RunningApp, model: ModelServer
) -> None:
    store: SQLStore = app.app.state.store
    c = await Client.connect(app.ws_url("soyeon"))
    await say(c, "soyeon", "my name is Soyeon")
    await say(c, "soyeon", "@chatbot hi")
    await c.answer()
    await store.save_chain("web:lobby", "resp_before_reset", 2)  # a Responses chain in progress
    reset = await say(c, "soyeon", "@chatbot reset")
    done = await c.answer()
    assert done["message"].startswith("Done: I forgot this channel")
    state = await store.state("web:lobby")
    assert state.reset_after_id == reset["id"]
    assert state.response_id is None and state.response_message_id is None
    await say(c, "soyeon", "@chatbot what is my name?")
    await c.answer()
    assert roles_and_texts(model.chat_requests()[-1])[1:] == [("user", "soyeon: what is my name?")]
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{app.http}/messages")).json()
    assert [m["message"] for m in stored][:3] == [
        "my name is Soyeon",
        "@chatbot hi",
        "answer 1",
    ]
    await c.close()


@pytest.mark.parametrize(
    "configured", ["[commands]\nreset_deletes = true\nreset_on_web = true\n"], indirect=True
)
async def test_reset_deletes_when_configured(configured: RunningApp, model: ModelServer) -> None:
    c = await Client.connect(configured.ws_url("soyeon"))
    await say(c, "soyeon", "secret plans")
    await say(c, "soyeon", "@chatbot reset")
    done = await c.answer()
    assert done["message"] == "Done: I forgot this channel and deleted 2 stored messages."
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{configured.http}/messages")).json()
    assert stored == []
    await c.close()


@pytest.mark.parametrize("configured", ["[commands]\nreset_on_web = false\n"], indirect=True)
async def test_reset_can_be_refused_on_the_web(configured: RunningApp) -> None:
    c = await Client.connect(configured.ws_url("soyeon"))
    await say(c, "soyeon", "@chatbot reset")
    refused = await c.answer()
    assert refused["message"].startswith("Only members with an allowed role")
    store: SQLStore = configured.app.state.store
    assert (await store.state("web:lobby")).reset_after_id == 0
    await c.close()


async def test_reset_on_discord_needs_an_allowed_role_or_user(
    tmp_path: Path, model: ModelServer
) -> None:
    toml = '[commands]\nreset_roles = ["admin"]\nreset_users = ["discord:u9"]\n'
    async with service_from(toml, tmp_path, model) as (service, store):
        target = Recorder()
        channel = "discord:g1:c1"
        await tell(service, incoming("@chatbot reset", channel, roles=("member",)), target)
        assert target.sent[-1][0].startswith("Only members with an allowed role")
        assert (await store.state(channel)).reset_after_id == 0
        await tell(service, incoming("@chatbot reset", channel, roles=("admin",)), target)
        assert target.sent[-1][0].startswith("Done")
        after_admin = (await store.state(channel)).reset_after_id
        assert after_admin > 0
        await tell(service, incoming("@chatbot reset", channel, user="u9"), target)
        assert target.sent[-1][0].startswith("Done")
        assert (await store.state(channel)).reset_after_id > after_admin


@pytest.mark.parametrize("configured", ['[tags.dragon]\nmodel = "gpt-4.1-mini"\n'], indirect=True)
async def test_usage_today_and_total_by_model(configured: RunningApp, model: ModelServer) -> None:
    store: SQLStore = configured.app.state.store
    # An answer from yesterday: in the total, not in today's figure.
    await store.add(
        NewMessage(
            channel="web:lobby",
            platform="web",
            role="assistant",
            author_id="bot:chatbot",
            author_name="chatbot",
            text="old answer",
            created_at=utcnow() - timedelta(days=1, hours=1),
            tag="chatbot",
            usage=Usage(100, 50, 150, "gpt-4.1", "openai"),
        )
    )
    c = await Client.connect(configured.ws_url("soyeon"))
    await say(c, "soyeon", "@chatbot one")
    await c.answer()
    await say(c, "soyeon", "@dragon two")
    await c.answer(nickname="dragon")
    await say(c, "soyeon", "@chatbot usage")
    reply = (await c.answer())["message"]
    today, total, own, limits = reply.splitlines()
    # Costs from the shipped prices: gpt-4.1 $2 / $8 per million, gpt-4.1-mini $0.40 / $1.60;
    # the answer stored without a cost (yesterday's) adds none.
    assert today == (
        "Tokens in this channel today (UTC): "
        "gpt-4.1 18 tokens (in 11 / out 7, 1 answers, est. $0.0001); "
        "gpt-4.1-mini 18 tokens (in 11 / out 7, 1 answers, est. under $0.0001)"
    )
    assert total == (
        "In total: gpt-4.1 168 tokens (in 111 / out 57, 2 answers, est. $0.0001); "
        "gpt-4.1-mini 18 tokens (in 11 / out 7, 1 answers, est. under $0.0001)"
    )
    assert own.startswith("You (all channels): today 36 tokens ($0.0001), this month 36 tokens")
    assert limits == "No spending limits apply to you here."
    assert [r["model"] for r in model.chat_requests()] == ["gpt-4.1", "gpt-4.1-mini"]
    await c.close()


@pytest.mark.parametrize("configured", ["moderation = true\n"], indirect=True)
async def test_moderation_on_flagged_message_is_refused_stored_flagged_not_sent(
    configured: RunningApp, model: ModelServer
) -> None:
    model.flag = lambda text: "badword" in text
    store: SQLStore = configured.app.state.store
    c = await Client.connect(configured.ws_url("soyeon"))
    await say(c, "soyeon", "plain badword chat")
    await say(c, "soyeon", "@chatbot badword question")
    refusal = await c.answer()
    assert refusal["error"] == "blocked" and refusal["message"].startswith("Sorry, I can't")
    assert model.chat_requests() == []
    await say(c, "soyeon", "@chatbot a fine question")
    await c.answer()
    sent = roles_and_texts(model.chat_requests()[-1])[1:]
    assert sent == [("user", "soyeon: a fine question")]  # flagged ones left out
    stored = await store.recent("web:lobby", 10)
    assert [(m.text, m.flagged) for m in stored[:3]] == [
        ("plain badword chat", True),
        ("@chatbot badword question", True),
        ("@chatbot a fine question", False),
    ]
    assert [r["input"] for r in model.moderation_requests()] == [
        "plain badword chat",
        "@chatbot badword question",
        "@chatbot a fine question",
    ]
    await c.close()


async def test_moderation_off_by_default(app: RunningApp, model: ModelServer) -> None:
    model.flag = lambda text: True
    c = await Client.connect(app.ws_url("soyeon"))
    await say(c, "soyeon", "@chatbot badword")
    answer = await c.answer()
    assert answer["message"] == "answer 1"
    assert model.moderation_requests() == []
    await c.close()


async def test_moderation_outage_lets_the_message_through(
    tmp_path: Path, model: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> bool:
        raise RuntimeError("moderation down")  # the stub answers 500

    model.flag = broken
    async with service_from("moderation = true\n", tmp_path, model) as (service, store):
        target = Recorder()
        await tell(service, incoming("@chatbot hello", "web:lobby"), target)
        assert target.sent[-1][0] == "answer 2"  # request 1 was the failed moderation call
        assert [m.flagged for m in await store.recent("web:lobby", 5)] == [False, False]
    assert "moderation failed, message not checked" in caplog.text
