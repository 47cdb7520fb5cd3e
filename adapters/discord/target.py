"""The Discord reply target: reply to the asking message, edit while streaming, never ping.

The core's Delivery owns the policy (placeholder, edits at most every `edit_interval` and only
on change, the final text always sent, splitting with code fences reopened); this class only
speaks Discord. API errors are logged and absorbed here: the conversation is already stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord

from adapters.discord.pacing import ChannelPacer
from bot.delivery import ReplyMeta
from bot.errors import ErrorKind
from bot.splitting import split_message

log = logging.getLogger(__name__)

DISCORD_LIMIT = 2000  # characters in one message
# Room kept for the persona label and the warning sign, so a decorated part still fits.
LABEL_RESERVE = 40
NO_PINGS = discord.AllowedMentions.none()  # @everyone, @here, roles, users, the replied user
MISSING_PERMISSIONS = 50013
MISSING_ACCESS = 50001
INVALID_FORM_BODY = 50035  # what Discord says for content over its limit
WARNING = "⚠️ "


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def decorate(text: str, meta: ReplyMeta, *, first: bool, default_persona: str) -> str:
    """A small label for personas other than the default (the bot's own name already says who
    answers), and a warning sign on error lines so they stand apart from answers."""
    prefix = ""
    if first and meta.persona != default_persona:
        prefix = f"-# {meta.persona[: LABEL_RESERVE - 10]}\n"
    if meta.error is not None and meta.error is not ErrorKind.USAGE:
        prefix += WARNING
    return prefix + text


@dataclass(slots=True)
class Sent:
    """The handle Delivery edits: the Discord message, replaced if it was deleted."""

    message: discord.Message
    first: bool  # the reply that carries the persona label


def status_line(label: str) -> str:
    """While a tool runs: Discord's small grey subtext under what is written so far."""
    return f"-# 🔧 {label}"


class DiscordTarget:
    """An answer in a channel: a reply to the asking message (or, in a thread opened for it,
    plain posts there), within the channel's budget for streaming updates (pacing.py)."""

    max_length = DISCORD_LIMIT - LABEL_RESERVE

    def __init__(
        self,
        asking: discord.Message,
        default_persona: str,
        *,
        channel: discord.Thread | None = None,
        pacer: ChannelPacer | None = None,
    ):
        self.asking = asking
        self.channel = channel if channel is not None else asking.channel
        # A reply must be in the asking message's channel; a thread opened for it shows it.
        self._can_reply = channel is None or channel.id == asking.channel.id
        self.default_persona = default_persona
        self.pacer = pacer
        self._replied = False
        self._silenced = False  # no permission to post here: stop trying

    def measure(self, text: str) -> int:
        return len(text)

    def status_line(self, label: str) -> str:
        return status_line(label)

    def may_update(self) -> bool:
        return self.pacer is None or self.pacer.may_update(self._channel_id())

    def _channel_id(self) -> int:
        return self.channel.id

    def _spent(self) -> None:
        if self.pacer is not None:
            self.pacer.spent(self._channel_id())

    async def _post(self, content: str, *, reply: bool) -> discord.Message:
        self._spent()
        if reply and self._can_reply:
            return await self.channel.send(
                content,
                reference=self.asking.to_reference(fail_if_not_exists=False),
                allowed_mentions=NO_PINGS,
            )
        return await self.channel.send(content, allowed_mentions=NO_PINGS)

    async def _post_split(self, content: str, *, reply: bool) -> discord.Message:
        """Discord refused the length (50035): post it again in smaller, UTF-16-measured parts."""
        parts = split_message(content, DISCORD_LIMIT - 100, utf16_len)
        first = await self._post(parts[0], reply=reply)
        for part in parts[1:]:
            await self._post(part, reply=False)
        return first

    async def send(self, text: str, meta: ReplyMeta) -> Sent | None:
        if self._silenced:
            return None
        first = not self._replied
        content = decorate(text, meta, first=first, default_persona=self.default_persona)
        try:
            try:
                message = await self._post(content, reply=first)
            except discord.HTTPException as exc:
                if exc.code != INVALID_FORM_BODY:
                    raise
                log.warning(
                    "discord refused a %d-character message (50035); splitting", len(content)
                )
                message = await self._post_split(content, reply=first)
        except discord.Forbidden as exc:
            self._silenced = True
            log.warning(
                "discord: no permission to post in channel %s (%s %s); the answer is stored",
                self.channel.id,
                exc.code,
                exc.text,
            )
            return None
        except discord.HTTPException as exc:
            log.warning("discord: sending to channel %s failed: %s", self.channel.id, exc)
            return None
        self._replied = True
        return Sent(message, first)

    async def edit(self, handle: Sent | None, text: str, meta: ReplyMeta) -> None:
        if handle is None:
            return
        content = decorate(text, meta, first=handle.first, default_persona=self.default_persona)
        self._spent()
        try:
            handle.message = await handle.message.edit(content=content, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            # Someone deleted the reply while it was being written: post the text anew.
            log.info("discord: message %s was deleted; posting a new one", handle.message.id)
            await self._repost(handle, content)
        except discord.Forbidden as exc:
            log.warning(
                "discord: cannot edit message %s (%s %s)", handle.message.id, exc.code, exc.text
            )
        except discord.HTTPException as exc:
            if exc.code != INVALID_FORM_BODY:
                log.warning("discord: editing message %s failed: %s", handle.message.id, exc)
                return
            parts = split_message(content, DISCORD_LIMIT - 100, utf16_len)
            try:
                handle.message = await handle.message.edit(
                    content=parts[0], allowed_mentions=NO_PINGS
                )
                for part in parts[1:]:
                    await self._post(part, reply=False)
            except discord.HTTPException as again:
                log.warning(
                    "discord: editing message %s failed again: %s", handle.message.id, again
                )

    async def _repost(self, handle: Sent, content: str) -> None:
        try:
            handle.message = await self._post(content, reply=True)
        except discord.HTTPException as exc:
            log.warning("discord: reposting to channel %s failed: %s", self.channel.id, exc)

    @contextlib.asynccontextmanager
    async def typing(self, persona: str) -> AsyncIterator[None]:
        """The typing indicator while the model works; a failure to show it changes nothing."""
        indicator = self.channel.typing()
        try:
            await indicator.__aenter__()
        except discord.HTTPException as exc:
            log.info("discord: typing indicator refused in %s: %s", self.channel.id, exc)
            yield
            return
        try:
            yield
        finally:
            await indicator.__aexit__(None, None, None)


class InteractionTarget:
    """The answer to an application command. The deferred response ("chatbot is thinking…")
    becomes the answer's first message by editing it (`PATCH .../messages/@original`), and the
    core's Delivery streams by editing that; what does not fit follows as follow-ups. Ephemeral
    answers (reset, usage, help, memory) stay visible to the asker only. Each interaction has
    its own webhook bucket, so no channel budget applies."""

    max_length = DISCORD_LIMIT - LABEL_RESERVE

    def __init__(self, interaction: discord.Interaction, default_persona: str, *, ephemeral: bool):
        self.interaction = interaction
        self.default_persona = default_persona
        self.ephemeral = ephemeral
        self._original_used = False
        self._gone = False  # the token expired or the response was deleted: stop trying

    def measure(self, text: str) -> int:
        return len(text)

    def status_line(self, label: str) -> str:
        return status_line(label)

    async def _post(self, content: str) -> Sent:
        if not self._original_used:
            message: discord.Message = await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_PINGS
            )
            self._original_used = True
            return Sent(message, first=True)
        followup = await self.interaction.followup.send(
            content, ephemeral=self.ephemeral, allowed_mentions=NO_PINGS, wait=True
        )
        return Sent(followup, first=False)

    async def send(self, text: str, meta: ReplyMeta) -> Sent | None:
        if self._gone:
            return None
        first = not self._original_used
        content = decorate(text, meta, first=first, default_persona=self.default_persona)
        try:
            try:
                return await self._post(content)
            except discord.HTTPException as exc:
                if exc.code != INVALID_FORM_BODY:
                    raise
                parts = split_message(content, DISCORD_LIMIT - 100, utf16_len)
                sent = await self._post(parts[0])
                for part in parts[1:]:
                    await self._post(part)
                return sent
        except discord.HTTPException as exc:
            self._gone = exc.status in (401, 404)
            log.warning("discord: answering interaction %s failed: %s", self.interaction.id, exc)
            return None

    async def edit(self, handle: Sent | None, text: str, meta: ReplyMeta) -> None:
        if handle is None or self._gone:
            return
        content = decorate(text, meta, first=handle.first, default_persona=self.default_persona)
        try:
            handle.message = await handle.message.edit(content=content, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            self._gone = exc.status in (401, 404)
            log.warning(
                "discord: editing the answer to interaction %s failed: %s",
                self.interaction.id,
                exc,
            )
