"""A whole service with Discord on: the real app, discord.py and a loopback Discord.

`World.post(...)` pushes a MESSAGE_CREATE shaped as Discord sends it through the gateway socket,
waits until the adapter has handled it and until any answer it started has been delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from adapters.discord.app import DiscordAdapter
from bot.types import StoredMessage
from memory.store import SQLStore
from testing.stubs.discord_server import DiscordServer, now_iso, snowflake
from tests.helpers import RunningApp, settings_for, start_app

BOT_ID = "900000000000000001"
GUILD_ID = "800000000000000001"
CHANNEL_ID = "810000000000000001"
THREAD_ID = "820000000000000001"
DM_ID = "830000000000000001"
BOT_ROLE_ID = "840000000000000001"
MOD_ROLE_ID = "300000000000000099"
HUMAN = {"id": "700000000000000001", "username": "minseo", "global_name": "Minseo"}
OTHER_BOT = {"id": "700000000000000099", "username": "echobot", "global_name": None, "bot": True}


def user(data: dict[str, Any]) -> dict[str, Any]:
    return {"discriminator": "0", "avatar": None, "global_name": None, **data}


BOT_USER = user({"id": BOT_ID, "username": "chatbot", "bot": True})


def guild_payload() -> dict[str, Any]:
    role = {"position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False}
    return {
        "id": GUILD_ID,
        "name": "course",
        "owner_id": HUMAN["id"],
        "member_count": 3,
        "features": [],
        "emojis": [],
        "stickers": [],
        "voice_states": [],
        "members": [],
        "presences": [],
        "roles": [
            {**role, "id": GUILD_ID, "name": "@everyone", "permissions": "1024"},
            {**role, "id": MOD_ROLE_ID, "name": "moderator", "permissions": "1024", "position": 2},
            {
                **role,
                "id": BOT_ROLE_ID,
                "name": "chatbot",
                "permissions": "274877975552",
                "managed": True,
                "position": 1,
                "tags": {"bot_id": BOT_ID},
            },
        ],
        "channels": [
            {
                "id": CHANNEL_ID,
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "guild_id": GUILD_ID,
            }
        ],
        "threads": [
            {
                "id": THREAD_ID,
                "type": 11,
                "name": "a question",
                "parent_id": CHANNEL_ID,
                "owner_id": HUMAN["id"],
                "guild_id": GUILD_ID,
                "message_count": 1,
                "member_count": 1,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": now_iso(),
                    "locked": False,
                },
            }
        ],
    }


def message_payload(
    content: str,
    *,
    author: dict[str, Any] = HUMAN,
    channel_id: str = CHANNEL_ID,
    dm: bool = False,
    mentions: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    embeds: list[dict[str, Any]] | None = None,
    ping: bool = True,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": snowflake(),
        "channel_id": DM_ID if dm else channel_id,
        "author": user(author),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [user(m) for m in mentions or []],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "pinned": False,
        "type": 0,
    }
    if not dm:
        data["guild_id"] = GUILD_ID
        # as the gateway sends it with MESSAGE_CREATE (discord.py needs `flags` to build a Member)
        data["member"] = {
            "roles": [],
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "pending": False,
            "communication_disabled_until": None,
        }
    if reply_to is not None:
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
            **({} if dm else {"guild_id": GUILD_ID}),
        }
        data["referenced_message"] = reply_to
        if ping and reply_to["author"]["id"] not in {m["id"] for m in data["mentions"]}:
            data["mentions"].append(reply_to["author"])  # a reply pings its author by default
    return data


def key(channel_id: str = CHANNEL_ID, thread_id: str | None = None) -> str:
    base = f"discord:{GUILD_ID}:{channel_id}"
    return f"{base}:{thread_id}" if thread_id else base


async def wait_until(pred: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class World:
    def __init__(self, server: DiscordServer, running: RunningApp):
        self.server = server
        self.running = running
        bot = running.app.state.adapters["discord"]
        assert isinstance(bot, DiscordAdapter)
        self.bot = bot
        self.service = running.app.state.service
        self.store: SQLStore = running.app.state.store
        # Count messages the adapter has finished with, by wrapping the handler discord.py
        # calls (the adapter itself keeps no test counters).
        self.handled = 0
        handle = bot.on_message

        async def on_message(message: discord.Message) -> None:
            try:
                await handle(message)
            finally:
                self.handled += 1

        bot.client.event(on_message)

    async def post(self, data: dict[str, Any]) -> dict[str, Any]:
        before = self.handled
        await self.server.dispatch("MESSAGE_CREATE", data)
        await wait_until(lambda: self.handled > before)
        await self.settle()
        return data

    async def settle(self) -> None:
        await self.service.idle()

    async def memory(self, channel: str) -> list[StoredMessage]:
        return await self.store.recent(channel, 100)

    def last_sent(self) -> dict[str, Any]:
        sent = self.server.sent()
        assert sent, "the bot sent nothing"
        body = sent[-1].body
        assert body is not None
        return body

    def bot_message(self, call_index: int = -1) -> dict[str, Any]:
        """The payload of a message the bot sent, as Discord would deliver it back."""
        return list(self.server.messages.values())[call_index]


async def start_world(
    db_url: str, model_url: str, monkeypatch: pytest.MonkeyPatch, **env: str
) -> World:
    server = DiscordServer(bot_user=BOT_USER, application_id=BOT_ID, guilds=[guild_payload()])
    await server.start()
    # discord.py's REST base and gateway address (class attributes), pointed at the loopback.
    monkeypatch.setattr(discord.http.Route, "BASE", server.url + "/api/v10")
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.url + "/gateway"))
    # The stub is Discord's CDN too: its files may be downloaded (adapters/files.py).
    env.setdefault("CHATBOT_FILE_HOSTS", yarl.URL(server.url).raw_authority)
    settings = settings_for(db_url, model_url, DISCORD_TOKEN="stub-token", **env)
    running = await start_app(settings)
    world = World(server, running)
    await wait_until(lambda: world.bot.client.get_guild(int(GUILD_ID)) is not None)
    return world


async def stop_world(world: World) -> None:
    await world.running.stop()
    await world.server.stop()
