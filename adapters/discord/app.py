"""The Discord adapter: a discord.py gateway client running inside the service.

Triggers: a mention of the bot, a reply to one of its messages, any DM, the `@chatbot` text tag
(which Discord only delivers with the Message Content intent). With that privileged intent on,
plain channel chat is stored into memory too; without it Discord blanks the content of posts
that do not concern the bot, so they are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import discord

from adapters.discord.inbound import (
    CHAT_TYPES,
    attachments_of,
    incoming,
    normalise_text,
    replied_to,
    resolve_channel,
)
from adapters.discord.settings import DiscordSettings
from adapters.discord.target import NO_PINGS, DiscordTarget
from adapters.files import DEFAULT_FILE_HOSTS, FileDownloads
from bot.delivery import ReplyMeta
from bot.service import ChatService, Received

log = logging.getLogger(__name__)

# View Channels, Send Messages, Send Messages in Threads, Read Message History.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
)
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


def build_client(settings: DiscordSettings) -> discord.Client:
    kind = discord.AutoShardedClient if settings.sharded else discord.Client
    return kind(intents=intents_for(settings), allowed_mentions=NO_PINGS)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=("bot",))


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
        self.client = build_client(settings)
        self._task: asyncio.Task[None] | None = None
        self.client.event(self.on_ready)
        self.client.event(self.on_message)

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

    # -- events ----------------------------------------------------------------------------

    async def on_ready(self) -> None:
        user = self.client.user
        log.info("discord: logged in as %s (%s)", user, user.id if user else "?")
        if self.client.application_id is not None:
            log.info("discord: invite URL %s", invite_url(self.client.application_id))

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
        target = DiscordTarget(message, self.tag)
        if not self.settings.message_content and not concerns_bot:
            # Discord blanked its content: nothing to store, yet the core hears someone spoke.
            return await self.service.receive(replace(msg, text=""), target)
        if not msg.text.strip() and not msg.attachments:
            if reply_to_bot and not author.bot and not self.settings.message_content:
                # A reply with its ping switched off: Discord blanked it, we cannot read it.
                await target.send(UNREADABLE_REPLY, ReplyMeta(persona=self.tag))
            return None  # e.g. a system notice; nothing a person said
        return await self.service.receive(msg, target)
