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


class DiscordTarget:
    max_length = DISCORD_LIMIT - LABEL_RESERVE

    def __init__(self, asking: discord.Message, default_persona: str):
        self.asking = asking
        self.channel = asking.channel
        self.default_persona = default_persona
        self._replied = False
        self._silenced = False  # no permission to post here: stop trying

    def measure(self, text: str) -> int:
        return len(text)

    async def _post(self, content: str, *, reply: bool) -> discord.Message:
        if reply:
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
