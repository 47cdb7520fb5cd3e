"""A whole service with Discord on: the real app, discord.py and a loopback Discord.

`World.post(...)` pushes a MESSAGE_CREATE shaped as Discord sends it through the gateway socket,
waits until the adapter has handled it and until any answer it started has been delivered.
`World.interact(...)` pushes an INTERACTION_CREATE (a slash command, the context menu, an
autocomplete) and waits until the interaction was answered; `update` / `delete` push
MESSAGE_UPDATE, MESSAGE_DELETE and MESSAGE_DELETE_BULK.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from adapters.discord.app import DiscordAdapter
from bot.types import StoredMessage
from memory.store import SQLStore
from testing.stubs.discord_server import LOADING, DiscordServer, now_iso, snowflake
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


def guild_payload(
    guild_id: str = GUILD_ID, channel_id: str = CHANNEL_ID, thread_id: str = THREAD_ID
) -> dict[str, Any]:
    role = {"position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False}
    return {
        "id": guild_id,
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
            {**role, "id": guild_id, "name": "@everyone", "permissions": "1024"},
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
                "id": channel_id,
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "guild_id": guild_id,
            }
        ],
        "threads": [
            {
                "id": thread_id,
                "type": 11,
                "name": "a question",
                "parent_id": channel_id,
                "owner_id": HUMAN["id"],
                "guild_id": guild_id,
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
    guild_id: str = GUILD_ID,
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
        data["guild_id"] = guild_id
        # as the gateway sends it with MESSAGE_CREATE (discord.py needs `flags` to build a Member)
        data["member"] = member_payload()
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


def member_payload(roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "roles": roles or [],
        "joined_at": now_iso(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
        "premium_since": None,
        "pending": False,
        "communication_disabled_until": None,
        **extra,
    }


def edited(message: dict[str, Any], content: str) -> dict[str, Any]:
    """MESSAGE_UPDATE as the gateway sends it (API v10: the whole message, edited)."""
    return {**message, "content": content, "edited_timestamp": now_iso()}


def option(name: str, value: object, kind: int = 3, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value, **extra}


def interaction_payload(
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    kind: int = 2,  # 2 APPLICATION_COMMAND, 4 APPLICATION_COMMAND_AUTOCOMPLETE
    command_type: int = 1,  # 1 CHAT_INPUT, 3 MESSAGE (a context menu)
    author: dict[str, Any] = HUMAN,
    roles: list[str] | None = None,
    channel_id: str = CHANNEL_ID,
    guild_id: str = GUILD_ID,
    dm: bool = False,
    **data: Any,
) -> dict[str, Any]:
    """INTERACTION_CREATE as Discord sends it over the gateway to a bot user."""
    interaction_id = snowflake()
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": BOT_ID,
        "type": kind,
        "token": f"interaction-token-{interaction_id}",
        "version": 1,
        "data": {"id": snowflake(), "name": name, "type": command_type, **data},
        "locale": "en-US",
        "app_permissions": "309237713920",
        "entitlements": [],
        "attachment_size_limit": 8388608,
    }
    if options is not None:
        payload["data"]["options"] = options
    if dm:
        payload.update(
            channel_id=DM_ID,
            channel={"id": DM_ID, "type": 1, "recipients": [user(author)], "flags": 0},
            user=user(author),
            context=1,
            authorizing_integration_owners={"1": author["id"]},
        )
    else:
        payload.update(
            guild_id=guild_id,
            guild_locale="en-US",
            channel_id=channel_id,
            channel={
                "id": channel_id,
                "type": 0,
                "guild_id": guild_id,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "flags": 0,
            },
            member=member_payload(roles, user=user(author), permissions="1024"),
            context=0,
            authorizing_integration_owners={"0": guild_id},
        )
    return payload


def ask_payload(question: str, persona: str | None = None, **kw: Any) -> dict[str, Any]:
    options = [option("question", question)]
    if persona is not None:
        options.append(option("persona", persona))
    return interaction_payload("ask", options, **kw)


RAW_HANDLERS = {
    "MESSAGE_UPDATE": "on_raw_message_edit",
    "MESSAGE_DELETE": "on_raw_message_delete",
    "MESSAGE_DELETE_BULK": "on_raw_bulk_message_delete",
}


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
        self.raw_handled = dict.fromkeys(RAW_HANDLERS.values(), 0)
        for name in RAW_HANDLERS.values():
            self._count(name, getattr(bot, name))

    def _count(self, name: str, handle: Callable[[Any], Awaitable[None]]) -> None:
        async def counted(payload: Any) -> None:
            try:
                await handle(payload)
            finally:
                self.raw_handled[name] += 1

        counted.__name__ = name
        self.bot.client.event(counted)

    async def post(self, data: dict[str, Any]) -> dict[str, Any]:
        before = self.handled
        await self.server.dispatch("MESSAGE_CREATE", data)
        await wait_until(lambda: self.handled > before)
        await self.settle()
        return data

    async def post_many(self, messages: list[dict[str, Any]], timeout: float = 60.0) -> None:
        """All at once, as a busy channel does; then until every answer was delivered."""
        before = self.handled
        for data in messages:
            await self.server.dispatch("MESSAGE_CREATE", data)
        await wait_until(lambda: self.handled >= before + len(messages), timeout)
        await self.settle()

    async def interact(self, data: dict[str, Any]) -> dict[str, Any]:
        """Push an interaction; wait until it was acknowledged and its response is final (an
        autocomplete's choices, or the "thinking" response edited into the answer)."""
        await self.server.dispatch("INTERACTION_CREATE", data)
        token = data["token"]

        def answered() -> bool:
            if not self.server.callbacks.get(data["id"]):
                return False
            messages = self.server.response(token)
            return not messages or not messages[0]["flags"] & LOADING

        await wait_until(answered)
        await self.settle()
        return data

    def original(self, data: dict[str, Any]) -> dict[str, Any]:
        """The interaction's original response, as it reads now."""
        messages = self.server.response(data["token"])
        assert messages, "the interaction got no message response"
        return messages[0]

    async def update(self, data: dict[str, Any]) -> None:
        """MESSAGE_UPDATE; waits until memory has seen it."""
        await self._raw("MESSAGE_UPDATE", data)

    async def delete(self, *ids: str, channel_id: str = CHANNEL_ID) -> None:
        """MESSAGE_DELETE for one id, MESSAGE_DELETE_BULK for several."""
        data: dict[str, Any]
        if len(ids) == 1:
            data = {"id": ids[0], "channel_id": channel_id, "guild_id": GUILD_ID}
            await self._raw("MESSAGE_DELETE", data)
        else:
            data = {"ids": list(ids), "channel_id": channel_id, "guild_id": GUILD_ID}
            await self._raw("MESSAGE_DELETE_BULK", data)

    async def _raw(self, event: str, data: dict[str, Any]) -> None:
        name = RAW_HANDLERS[event]
        before = self.raw_handled[name]
        await self.server.dispatch(event, data)
        await wait_until(lambda: self.raw_handled[name] > before)
        await self.settle()

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
    db_url: str,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    server: DiscordServer | None = None,
    guild_id: str = GUILD_ID,
    **env: str,
) -> World:
    """The app against a loopback Discord (a new one, or `server` shared by several apps, as
    processes running different shards share Discord); ready once it sees `guild_id`."""
    if server is None:
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
    await wait_until(lambda: world.bot.client.get_guild(int(guild_id)) is not None)
    return world


async def stop_world(world: World, *, server: bool = True) -> None:
    await world.running.stop()
    if server:
        await world.server.stop()
