"""A Discord message as the core's IncomingMessage: channel keys, mentions, attachments.

The bot's own mention (`<@id>`, `<@!id>` or its managed role `<@&id>`) reads as the core's tag
`@chatbot` where it was written, and `mentions_bot` says it was there: the core decides what
that means ("thanks <@bot>!" is addressed too). Other mentions become readable names so the
model sees `@minseo`, not `<@1234>`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import discord

from bot.types import Author, IncomingMessage

log = logging.getLogger(__name__)

PLATFORM = "discord"
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#(\d+)>")
# Ordinary posts and replies; joins, pins, thread-created notices and the like are not chat.
CHAT_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


async def resolve_channel(message: discord.Message) -> object:
    """The message's channel; fetched when discord.py has not cached it (a thread it has not seen
    yet arrives as a PartialMessageable), so a thread's key always names its parent."""
    channel = message.channel
    if message.guild is not None and isinstance(channel, discord.PartialMessageable):
        try:
            return await message.guild.fetch_channel(channel.id)
        except discord.HTTPException as exc:
            log.info("could not fetch channel %s: %s", channel.id, exc)
    return channel


def channel_key(message: discord.Message, channel: object) -> str:
    """`discord:<guild>:<channel>[:<thread>]`, or `discord:dm:<channel>` for direct messages."""
    assert isinstance(channel, discord.abc.Snowflake)
    if message.guild is None:
        return f"{PLATFORM}:dm:{channel.id}"
    if isinstance(channel, discord.Thread):
        return f"{PLATFORM}:{message.guild.id}:{channel.parent_id}:{channel.id}"
    return f"{PLATFORM}:{message.guild.id}:{channel.id}"


def parent_key(message: discord.Message, channel: object) -> str | None:
    """A thread's channel (`discord:<guild>:<channel>`): spending limits count them together."""
    if message.guild is None or not isinstance(channel, discord.Thread):
        return None
    return f"{PLATFORM}:{message.guild.id}:{channel.parent_id}"


@dataclass(frozen=True, slots=True)
class Normalised:
    text: str
    mentioned: bool  # the bot (or its managed role) was mentioned


def normalise_text(message: discord.Message, bot_id: int, tag: str) -> Normalised:
    bot_role = message.guild.self_role if message.guild is not None else None
    users = {m.id: m.display_name for m in message.mentions}
    roles = {r.id: r.name for r in message.role_mentions}
    mentioned = False

    def user(match: re.Match[str]) -> str:
        nonlocal mentioned
        uid = int(match.group(1))
        if uid == bot_id:
            mentioned = True
            return f"@{tag}"
        return f"@{users[uid]}" if uid in users else match.group(0)

    def role(match: re.Match[str]) -> str:
        nonlocal mentioned
        rid = int(match.group(1))
        if bot_role is not None and rid == bot_role.id:
            mentioned = True
            return f"@{tag}"
        return f"@{roles[rid]}" if rid in roles else match.group(0)

    def channel(match: re.Match[str]) -> str:
        found = message.guild.get_channel_or_thread(int(match.group(1))) if message.guild else None
        return f"#{found.name}" if found is not None else match.group(0)

    text = _CHANNEL.sub(channel, _ROLE.sub(role, _USER.sub(user, message.content))).strip()
    extras = [f"[attachment: {a.filename}]" for a in message.attachments]
    extras += [f"[sticker: {s.name}]" for s in message.stickers]
    if not text and not extras:
        # Embed-only posts (mostly other bots): keep a trace of what they showed.
        extras += [
            f"[embed: {e.title or e.description or e.url or 'untitled'}]" for e in message.embeds
        ]
    if extras:
        text = "\n".join([text, *extras]) if text else "\n".join(extras)
    return Normalised(text=text, mentioned=mentioned)


async def replies_to(message: discord.Message, user_id: int) -> bool:
    """Is this a reply to a message by `user_id`? Resolves the reference, fetching if needed."""
    ref = message.reference
    if ref is None or ref.message_id is None or ref.type is not discord.MessageReferenceType.reply:
        return False
    resolved = ref.resolved or ref.cached_message
    if resolved is None:
        try:
            resolved = await message.channel.fetch_message(ref.message_id)
        except discord.HTTPException as exc:
            log.info("could not resolve the replied-to message %s: %s", ref.message_id, exc)
            return False
    if isinstance(resolved, discord.DeletedReferencedMessage):
        return False
    return resolved.author.id == user_id


def incoming(
    message: discord.Message,
    channel: object,
    normalised: Normalised,
    bot_id: int,
    *,
    reply_to_bot: bool,
) -> IncomingMessage:
    author = message.author
    return IncomingMessage(
        platform=PLATFORM,
        channel=channel_key(message, channel),
        parent_channel=parent_key(message, channel),
        message_id=str(message.id),
        author=Author(
            id=f"{PLATFORM}:{author.id}",
            name=author.display_name,
            is_bot=author.bot,
            is_self=author.id == bot_id,
        ),
        text=normalised.text,
        mentions_bot=normalised.mentioned,
        is_direct=message.guild is None,
        reply_to_bot=reply_to_bot,
        time=message.created_at,
        roles=member_roles(author),
    )


def member_roles(author: discord.abc.User) -> tuple[str, ...]:
    """A guild member's roles by id and by name, for `reset_roles` (a DM author has none)."""
    roles = getattr(author, "roles", None) or ()
    return tuple(str(r.id) for r in roles) + tuple(r.name for r in roles)
