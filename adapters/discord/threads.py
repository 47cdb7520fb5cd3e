"""Auto-threads (`[channels."discord:<guild>:<channel>"] threads = true`): a mention of the bot
in such a channel opens a public thread on the question, named after it, and the conversation
continues there (`inbound.bots_thread`: no further mentions needed once the bot answered)."""

from __future__ import annotations

import logging
from typing import Final

import discord

log = logging.getLogger(__name__)

NAME_LIMIT = 100  # characters Discord allows in a thread's name
ARCHIVE_MINUTES: Final = 1440  # a day without messages, then Discord archives it


def thread_name(text: str, tag: str) -> str:
    """The question in one line, without the bot's mention, cut at a word to Discord's limit."""
    words = [w for w in text.split() if w.lower().rstrip(",:") != f"@{tag}"]
    name = " ".join(words)
    if len(name) > NAME_LIMIT:
        cut = name[: NAME_LIMIT - 1]
        name = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return name or tag


async def open_thread(message: discord.Message, text: str, tag: str) -> discord.Thread | None:
    """A thread on `message`; None when Discord refuses (no permission, one exists already):
    the answer then goes to the channel, as without threads."""
    try:
        return await message.create_thread(
            name=thread_name(text, tag), auto_archive_duration=ARCHIVE_MINUTES
        )
    except discord.HTTPException as exc:
        log.warning(
            "discord: could not open a thread in channel %s (%s %s); answering in the channel",
            message.channel.id,
            exc.code,
            exc.text,
        )
        return None
