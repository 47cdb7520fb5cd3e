"""Tools on Discord: discord.py against the loopback Discord, the real app and the stub model.

While a tool runs the streamed reply shows a small `-#` status line; a tag's tools may be limited
to roles (by name or id, as reset_roles) and users."""

from __future__ import annotations

from pathlib import Path

from testing.stubs.model_server import ModelServer, Reply, ToolCalls
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    HUMAN,
    MOD_ROLE_ID,
    key,
    message_payload,
)


def offered(body: dict[str, object]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]  # type: ignore[attr-defined]


async def test_a_status_line_shows_while_a_tool_runs_then_the_answer(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    model.then(
        ToolCalls([("current_time", '{"time_zone": "Asia/Seoul"}')], delay=0.0),
        Reply("It is 9 pm in Seoul."),
    )
    await world.post(message_payload(f"<@{BOT_ID}> time in Seoul?", mentions=[BOT_USER]))
    placeholder = world.server.sent()[0].body
    assert placeholder is not None and placeholder["content"] == "-# 🔧 checking the time…"
    # The final text replaces it, with no status line.
    assert world.server.visible(CHANNEL_ID) == ["It is 9 pm in Seoul."]
    store = world.running.app.state.store
    assert await store.tool_usage(key()) == {"current_time": 1}


async def test_text_before_the_call_keeps_its_place_above_the_status_line(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    world.bot.service.edit_interval = 10.0  # no text edits: the status line is the only update
    model.then(
        ToolCalls([("current_time", "{}")], text="One moment."),
        Reply("Done."),
    )
    await world.post(message_payload(f"<@{BOT_ID}> time?", mentions=[BOT_USER]))
    shown = [world.server.sent()[0].body["content"]] + [
        e.body["content"] for e in world.server.edits()
    ]
    assert "One moment.\n-# 🔧 checking the time…" in shown
    assert world.server.visible(CHANNEL_ID) == ["One moment.\n\nDone."]


async def test_tools_limited_to_a_role_and_a_user(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text(
        '[tags.chatbot]\ntools = ["current_time"]\ntool_roles = ["moderator"]\n'
        'tool_users = ["discord:700000000000000042"]\n'
    )
    world = await make_world(CHATBOT_CONFIG=str(config))
    await world.post(message_payload(f"<@{BOT_ID}> a member asks", mentions=[BOT_USER]))
    with_role = message_payload(f"<@{BOT_ID}> a moderator asks", mentions=[BOT_USER])
    with_role["member"]["roles"] = [MOD_ROLE_ID]
    await world.post(with_role)
    named = {**HUMAN, "id": "700000000000000042", "username": "jun"}
    await world.post(
        message_payload(f"<@{BOT_ID}> a named user asks", mentions=[BOT_USER], author=named)
    )
    assert [offered(b) for b in model.chat_requests()] == [[], ["current_time"], ["current_time"]]
