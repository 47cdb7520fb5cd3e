"""Spending limits end to end: the TOML's [[limits]], two app instances on one database sharing
one count, a restart, the UTC boundary on the real store, run-time settings across instances."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.personas import default_persona
from bot.service import ChatService
from bot.settings import BotSettings, SpendingSettings
from bot.types import Author, ChannelSettings, IncomingMessage, Limit
from memory.store import SQLStore
from testing.fakes import FakeProvider, RecordingTarget
from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp, settings_for, start_app

LIMITS = """
[[limits]]
scope = "user"
period = "day"
tokens = 36

[[limits]]
scope = "platform"
period = "month"
cost_usd = 100
"""


async def test_two_app_instances_on_one_database_share_one_count(
    tmp_path: Path, db_url: str, model: ModelServer
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text(LIMITS)
    settings = settings_for(db_url, model.url, CHATBOT_CONFIG=str(config))
    first = await start_app(settings)
    second = await start_app(settings)
    try:
        on_first = await Client.connect(first.ws_url("alice"))
        on_second = await Client.connect(second.ws_url("alice"))
        await on_first.say("@chatbot one")  # 18 tokens (the stub's usage: 11 + 7)
        assert "error" not in await on_first.answer()
        await on_second.say("@chatbot two")  # 36: the second instance read the first's count
        assert "error" not in await on_second.answer()
        await on_first.say("@chatbot three")
        refused = await on_first.answer()
        assert refused["error"] == "over_limit"
        assert refused["message"].startswith(
            "Spending limit reached: you have used 36 tokens of your 36 tokens a day (UTC). "
            "It resets at 00:00 UTC, in "
        )
        assert len(model.chat_requests()) == 2  # no model call for the third
        # bob is someone else, in the same room, on either instance.
        bob = await Client.connect(second.ws_url("bob"))
        await bob.say("@chatbot me?")
        assert "error" not in await bob.answer()
        # `@chatbot usage` over the wire: alice's own use and the limits on her.
        await on_second.say("@chatbot usage")
        usage = (await on_second.until(lambda f: "You (all" in f.get("message", "")))["message"]
        assert "You (all channels): today 36 tokens" in usage
        assert "• each person, per day: 36 tokens of 36 tokens reached" in usage
        # Three answers of 11 tokens in and 7 out on gpt-4.1 ($2 / $8 per million): $0.000234.
        assert "• the platform, per month: $0.0002 of $100.00 used" in usage
        for c in (on_first, on_second, bob):
            await c.close()
    finally:
        await first.stop()
        await second.stop()
    # A restart: the count is in the database.
    again = await start_app(settings)
    try:
        alice = await Client.connect(again.ws_url("alice"))
        await alice.say("@chatbot after the restart")
        assert (await alice.answer())["error"] == "over_limit"
        await alice.close()
    finally:
        await again.stop()
    assert len(model.chat_requests()) == 3


async def test_the_cap_resets_at_the_utc_boundary_on_the_real_store(db_url: str) -> None:
    store = SQLStore.from_url(db_url)
    await store.create_schema()
    now = [datetime(2026, 6, 30, 23, 59, 30, tzinfo=UTC)]
    settings = BotSettings(spending=SpendingSettings(limits=(Limit("user", "day", tokens=18),)))
    provider = FakeProvider()
    service = ChatService(
        store,
        lambda _: provider,
        settings,
        {"chatbot": default_persona(settings)},
        clock=lambda: now[0],
    )

    async def ask(text: str) -> RecordingTarget:
        target = RecordingTarget()
        await service.receive(
            IncomingMessage("web", "web:r", None, Author("web:a", "a"), text), target
        )
        await service.idle()
        return target

    try:
        await ask("@chatbot before midnight")
        over = await ask("@chatbot again")
        assert over.texts() == [
            "Spending limit reached: you have used 18 tokens of your 18 tokens a day (UTC). "
            "It resets at 00:00 UTC, in less than a minute."
        ]
        now[0] = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
        assert (await ask("@chatbot after midnight")).texts() == ["ok"]
        assert len(provider.requests) == 2
    finally:
        await service.close()
        await store.close()


async def test_run_time_channel_settings_reach_the_other_instance(
    db_url: str, model: ModelServer
) -> None:
    settings = settings_for(db_url, model.url)
    first: RunningApp = await start_app(settings)
    second: RunningApp = await start_app(settings)
    try:
        # Saved through the first instance (as its console does); the second, which has
        # read the settings already, sees them within its cache's ttl (shortened from 5 s).
        second.app.state.service.channel_settings.ttl = 0.2
        minsu = await Client.connect(second.ws_url("minsu"))
        await minsu.say("@chatbot hello")
        assert "error" not in await minsu.answer(nickname="chatbot")
        await first.app.state.store.save_channel_settings(
            ChannelSettings(
                "web:lobby", persona="dragon", limits=(Limit("user", "day", tokens=30),)
            )
        )
        await asyncio.sleep(0.3)
        await minsu.say("@chatbot hello")
        first_answer = await minsu.answer(nickname="dragon")  # the run-time persona
        assert "error" not in first_answer
        # The channel's own limit (30 tokens a day for each person): 36 used now.
        await minsu.say("@chatbot and again")
        assert (await minsu.answer(nickname="dragon"))["error"] == "over_limit"
        await minsu.close()
    finally:
        await first.stop()
        await second.stop()
