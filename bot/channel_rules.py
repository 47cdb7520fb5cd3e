"""Per-channel settings and command permissions, as the configuration file declares them, with
the settings the operator changed at run time (the console) over them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.types import ChannelKey, IncomingMessage, Limit


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
    # Spending limits on every tag here, instead of the file's `[[limits]]` (bot/spending.py).
    limits: tuple[Limit, ...] | None = None


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
    # Set at run time (the console, stored in the database): over `channels`, value by value.
    overrides: Mapping[str, ChannelOverride] = field(default_factory=dict)

    def for_channel(self, channel: ChannelKey) -> ChannelOverride:
        """The file's settings for the channel with the run-time ones over them.

        Each is the longest key that is the channel or a `:`-bounded prefix of it. So a Discord
        thread `discord:<g>:<c>:<thread>` falls back to `discord:<g>:<c>`, a Slack thread to its
        channel, and `discord` alone is a platform-wide default.
        """
        base = _longest(self.channels, channel) or ChannelOverride()
        over = _longest(self.overrides, channel) if self.overrides else None
        if over is None:
            return base
        prompt = over.system_prompt
        if prompt is None and (over.persona is None or over.persona == base.persona):
            prompt = base.system_prompt  # the file's prompt was written for that persona only
        return ChannelOverride(
            persona=over.persona or base.persona,
            system_prompt=prompt,
            scope=base.scope,
            limits=base.limits if over.limits is None else over.limits,
        )

    def in_file(self, channel: ChannelKey) -> ChannelOverride:
        """The file's settings alone (the console shows run-time ones as overrides of these)."""
        return _longest(self.channels, channel) or ChannelOverride()

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


def _longest(
    channels: Mapping[str, ChannelOverride], channel: ChannelKey
) -> ChannelOverride | None:
    key = channel
    while True:
        found = channels.get(key)
        if found is not None:
            return found
        if ":" not in key:
            return None
        key = key.rsplit(":", 1)[0]
