"""The Discord adapter: a discord.py gateway client running inside the service.

Triggers: a mention of the bot, a reply to one of its messages, any DM, the `@chatbot` text tag
(which Discord only delivers with the Message Content intent), and the application commands
(commands.py, interactions.py). With that privileged intent on, plain channel chat is stored
into memory too; without it Discord blanks the content of posts that do not concern the bot, so
they are skipped. Edits and deletions reach memory (`ChatService.edited` / `.deleted`); in a
channel with `threads = true` a mention opens a thread for the conversation (threads.py).
Shards: this process runs CHATBOT_DISCORD_SHARDS of CHATBOT_DISCORD_SHARD_COUNT; memory and
de-duplication are the database's, shared by every process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord

from adapters.discord.commands import build_tree, sync
from adapters.discord.inbound import (
    CHAT_TYPES,
    PLATFORM,
    attachments_of,
    channel_key,
    incoming,
    normalise_text,
    replied_to,
    resolve_channel,
)
from adapters.discord.interactions import Interactions
from adapters.discord.pacing import ChannelPacer
from adapters.discord.settings import DiscordSettings
from adapters.discord.target import NO_PINGS, DiscordTarget
from adapters.discord.threads import open_thread
from adapters.files import DEFAULT_FILE_HOSTS, FileDownloads
from bot.delivery import ReplyMeta
from bot.service import ChatService, Received

log = logging.getLogger(__name__)

# View Channels, Send Messages, Send Messages in Threads, Create Public Threads, Read Message
# History: 309237713920.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    read_message_history=True,
)
INVITE_SCOPES = ("bot", "applications.commands")
UNREADABLE_REPLY = (
    "I can't read replies that don't mention me. Keep the reply's @ switched on, or mention me."
)


def intents_for(settings: DiscordSettings) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True  # channels and threads, to key memory and resolve mentions
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = settings.message_content
    return intents


Setup = Callable[[], Awaitable[None]]


class _Client(discord.Client):
    """discord.py calls `setup_hook` after login, before the gateway: commands sync there."""

    def __init__(self, setup: Setup, **options: Any):
        super().__init__(**options)
        self._setup = setup

    async def setup_hook(self) -> None:
        await self._setup()


class _ShardedClient(discord.AutoShardedClient):
    def __init__(self, setup: Setup, **options: Any):
        super().__init__(**options)
        self._setup = setup

    async def setup_hook(self) -> None:
        await self._setup()


def build_client(settings: DiscordSettings, setup: Setup) -> discord.Client:
    options: dict[str, Any] = {"intents": intents_for(settings), "allowed_mentions": NO_PINGS}
    if not settings.sharded:
        return _Client(setup, **options)
    # No count: as many as Discord advises, all here. No ids: every shard of the count here.
    if settings.shard_count is not None:
        options["shard_count"] = settings.shard_count
    if settings.shard_ids is not None:
        options["shard_ids"] = list(settings.shard_ids)
    return _ShardedClient(setup, **options)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(
        application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES
    )


class DiscordAdapter:
    """The Discord gateway client, running as a background task of the service."""

    name = "discord"

    def __init__(
        self,
        service: ChatService,
        settings: DiscordSettings,
        *,
        file_hosts: tuple[str, ...] = DEFAULT_FILE_HOSTS,
    ):
        self.service = service
        self.settings = settings
        self.downloads = FileDownloads(file_hosts)  # attachments, from Discord's CDN only
        self.tag = service.name
        self.client = build_client(settings, self.setup_hook)
        self.pacer = ChannelPacer()  # every answer in a channel shares its rate limit
        self.interactions = Interactions(service, self.tag)
        self.tree = build_tree(self.client, self.interactions)
        self._task: asyncio.Task[None] | None = None
        for handler in (
            self.on_ready,
            self.on_message,
            self.on_raw_message_edit,
            self.on_raw_message_delete,
            self.on_raw_bulk_message_delete,
        ):
            self.client.event(handler)

    # -- lifecycle -------------------------------------------------------------------------

    def router(self) -> None:
        return None  # Discord is a gateway we connect to, not an HTTP caller

    def clients(self) -> int:
        return 0

    async def start(self) -> None:
        """Connect to the gateway in a background task of the running loop."""
        assert self.settings.token, "DISCORD_TOKEN is not set"
        self._task = asyncio.create_task(self._run(self.settings.token), name="discord-gateway")

    async def _run(self, token: str) -> None:
        try:
            await self.client.start(token)
        except discord.LoginFailure:
            log.error("DISCORD_TOKEN was rejected by Discord: check the bot token")
        except discord.PrivilegedIntentsRequired:
            log.error(
                "Discord refused the Message Content intent: enable it for the bot in the "
                "Developer Portal, or unset CHATBOT_DISCORD_MESSAGE_CONTENT"
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the Discord client stopped; the rest of the service keeps running")

    async def stop(self) -> None:
        await self.downloads.close()
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def setup_hook(self) -> None:
        """After login, before the gateway: register the application commands (one process
        does: the one with shard 0)."""
        if self.settings.syncs_commands:
            await sync(self.tree, self.settings.guilds)

    # -- events ----------------------------------------------------------------------------

    async def on_ready(self) -> None:
        user = self.client.user
        log.info("discord: logged in as %s (%s)", user, user.id if user else "?")
        if isinstance(self.client, discord.AutoShardedClient):
            log.info(
                "discord: running shards %s of %s",
                sorted(self.client.shards),
                self.client.shard_count,
            )
        if self.client.application_id is not None:
            log.info("discord: invite URL %s", invite_url(self.client.application_id))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """An edit: memory keeps the new text. An edit is never answered."""
        me = self.client.user
        message = payload.message
        if me is None or message.author.id == me.id or message.edited_at is None:
            return  # our own streaming, or an embed unfurled: not an edit of what was said
        text = normalise_text(message, me.id, self.tag).text
        if not text.strip():
            return  # Discord blanked it (no Message Content intent): keep what we have
        try:
            await self.service.edited(PLATFORM, str(message.id), text)
        except Exception:
            log.exception("discord: failed handling the edit of %s", message.id)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deleted([payload.message_id])

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._deleted(sorted(payload.message_ids))

    async def _deleted(self, ids: list[int]) -> None:
        """Deleted on Discord: gone from memory, and an answer still being written stops."""
        try:
            await self.service.deleted(PLATFORM, [str(i) for i in ids])
        except Exception:
            log.exception("discord: failed handling the deletion of %d messages", len(ids))

    async def on_message(self, message: discord.Message) -> None:
        try:
            await self.handle(message)
        except Exception:
            log.exception("discord: failed handling message %s", message.id)

    async def handle(self, message: discord.Message) -> Received | None:
        me = self.client.user
        if me is None or message.type not in CHAT_TYPES:
            return None
        author = message.author
        is_self = author.id == me.id
        normalised = normalise_text(message, me.id, self.tag)
        direct = message.guild is None
        parent = None if is_self else await replied_to(message)
        reply_to_bot = parent is not None and parent.author.id == me.id
        concerns_bot = normalised.mentioned or direct or reply_to_bot
        channel = await resolve_channel(message)
        files = attachments_of(message, self.downloads)
        if parent is not None and not reply_to_bot and (normalised.mentioned or direct):
            # "@bot what does this say?" in reply to someone's screenshot: theirs are asked about.
            files += attachments_of(parent, self.downloads, of_another=True)
        msg = incoming(
            message, channel, normalised, me.id, reply_to_bot=reply_to_bot, attachments=files
        )
        target = DiscordTarget(message, self.tag, pacer=self.pacer)
        if (
            normalised.mentioned
            and not author.bot
            and isinstance(channel, discord.TextChannel)
            and self.service.rules.for_channel(msg.channel).threads
        ):
            thread = await open_thread(message, msg.text, self.tag)
            if thread is not None:
                # The question opens the thread's conversation; the answer goes there.
                msg = replace(msg, channel=channel_key(message, thread), in_thread=True)
                target = DiscordTarget(message, self.tag, channel=thread, pacer=self.pacer)
        if not self.settings.message_content and not concerns_bot:
            # Discord blanked its content: nothing to store, yet the core hears someone spoke.
            return await self.service.receive(replace(msg, text=""), target)
        if not msg.text.strip() and not msg.attachments:
            if reply_to_bot and not author.bot and not self.settings.message_content:
                # A reply with its ping switched off: Discord blanked it, we cannot read it.
                await target.send(UNREADABLE_REPLY, ReplyMeta(persona=self.tag))
            return None  # e.g. a system notice; nothing a person said
        return await self.service.receive(msg, target)
