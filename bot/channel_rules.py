"""Per-channel settings and command permissions, as the configuration file declares them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.types import ChannelKey, IncomingMessage


@dataclass(frozen=True, slots=True)
class ChannelOverride:
    """What one channel (or every channel under a key prefix) changes."""

    persona: str | None = None  # answers DMs, replies and plain `@chatbot` here
    system_prompt: str | None = None  # replaces that persona's system prompt here
    # "shared" (the room's conversation) or "member" (each person their own thread of memory).
    scope: str | None = None
    # Discord: a mention here opens a thread named after the question, and the conversation
    # continues there without further mentions.
    threads: bool = False


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    reset_deletes: bool = False  # `@chatbot reset` also deletes the stored messages
    reset_roles: tuple[str, ...] = ()  # Discord/Slack: members with one of these roles may reset
    reset_users: tuple[str, ...] = ()  # ... or these user ids (`U123` or `slack:U123`)
    reset_on_web: bool = True  # the web chat has no roles: anyone may reset there unless off


@dataclass(frozen=True, slots=True)
class ChatRules:
    channels: Mapping[str, ChannelOverride] = field(default_factory=dict)
    commands: CommandPolicy = field(default_factory=CommandPolicy)
    moderation: bool = False

    def for_channel(self, channel: ChannelKey) -> ChannelOverride:
        """The longest configured key that is the channel or a `:`-bounded prefix of it.

        So a Discord thread `discord:<g>:<c>:<thread>` falls back to `discord:<g>:<c>`, a Slack
        thread to its channel, and `discord` alone is a platform-wide default.
        """
        key = channel
        while True:
            found = self.channels.get(key)
            if found is not None:
                return found
            if ":" not in key:
                return ChannelOverride()
            key = key.rsplit(":", 1)[0]

    def may_reset(self, message: IncomingMessage) -> bool:
        policy = self.commands
        if message.platform == "web":
            return policy.reset_on_web
        if message.is_direct:
            return True  # a person's own DM with the bot is theirs to reset
        author = message.author.id
        if author in policy.reset_users or f"{message.platform}:{author}" in policy.reset_users:
            return True
        return any(role in policy.reset_roles for role in message.roles)
