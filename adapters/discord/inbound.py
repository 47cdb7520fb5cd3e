"""A Discord message as the core's IncomingMessage: channel keys, mentions, attachments.

Attachments are described, not downloaded: each carries a `fetch` that reads it from
Discord's CDN through adapters/files.py, which the core calls only for messages it answers.
A reply that mentions the bot also carries the files of the message it replies to ("@bot what
does this say?" under a screenshot).

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

from adapters.files import FileDownloads
from bot.attachments import safe_name
from bot.types import Attachment, Author, IncomingMessage

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
    return key_for(message.guild.id if message.guild is not None else None, channel)


def key_for(guild_id: int | None, channel: object) -> str:
    """The conversation key of a channel (a thread names its parent) in a guild, or a DM."""
    assert isinstance(channel, discord.abc.Snowflake)
    if guild_id is None:
        return f"{PLATFORM}:dm:{channel.id}"
    if isinstance(channel, discord.Thread):
        return f"{PLATFORM}:{guild_id}:{channel.parent_id}:{channel.id}"
    return f"{PLATFORM}:{guild_id}:{channel.id}"


def bots_thread(channel: object, bot_id: int) -> bool:
    """A thread the bot opened for a conversation (`threads = true`): what is said there is
    said to the bot once it has answered there, as in a Slack thread it took part in. Threads
    people open stay as they are: mention or reply to ask."""
    return isinstance(channel, discord.Thread) and channel.owner_id == bot_id


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
    extras = [f"[sticker: {s.name}]" for s in message.stickers]
    if not text and not extras and not message.attachments:
        # Embed-only posts (mostly other bots): keep a trace of what they showed.
        extras += [
            f"[embed: {e.title or e.description or e.url or 'untitled'}]" for e in message.embeds
        ]
    if extras:
        text = "\n".join([text, *extras]) if text else "\n".join(extras)
    return Normalised(text=text, mentioned=mentioned)


async def replied_to(message: discord.Message) -> discord.Message | None:
    """The message this one replies to, fetched if discord.py has not got it; None if none."""
    ref = message.reference
    if ref is None or ref.message_id is None or ref.type is not discord.MessageReferenceType.reply:
        return None
    resolved = ref.resolved or ref.cached_message
    if resolved is None:
        try:
            resolved = await message.channel.fetch_message(ref.message_id)
        except discord.HTTPException as exc:
            log.info("could not resolve the replied-to message %s: %s", ref.message_id, exc)
            return None
    if isinstance(resolved, discord.DeletedReferencedMessage):
        return None
    return resolved


async def replies_to(message: discord.Message, user_id: int) -> bool:
    """Is this a reply to a message by `user_id`? Resolves the reference, fetching if needed."""
    resolved = await replied_to(message)
    return resolved is not None and resolved.author.id == user_id


def attachments_of(
    message: discord.Message, downloads: FileDownloads, *, of_another: bool = False
) -> tuple[Attachment, ...]:
    """The message's files, each fetched from its CDN URL only if the core asks."""
    found = []
    for a in message.attachments:
        name = safe_name(a.filename)

        async def fetch(limit: int, url: str = a.url, name: str = name) -> bytes:
            return await downloads.fetch(name, url, limit)

        found.append(
            Attachment(
                name=name,
                content_type=a.content_type,
                size=a.size,
                fetch=fetch,
                author_name=message.author.display_name if of_another else None,
            )
        )
    return tuple(found)


def incoming(
    message: discord.Message,
    channel: object,
    normalised: Normalised,
    bot_id: int,
    *,
    reply_to_bot: bool,
    attachments: tuple[Attachment, ...] = (),
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
        in_thread=bots_thread(channel, bot_id),
        time=message.created_at,
        roles=member_roles(author),
        attachments=attachments,
    )


def member_roles(author: discord.abc.User) -> tuple[str, ...]:
    """A guild member's roles by id and by name, for `reset_roles` (a DM author has none)."""
    roles = getattr(author, "roles", None) or ()
    return tuple(str(r.id) for r in roles) + tuple(r.name for r in roles)
