"""Typed values that cross the boundary between the core, the adapters and memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

# An opaque, platform-prefixed conversation name: `web:<room>`,
# `discord:<guild>:<channel>[:<thread>]`, `slack:<team>:<channel>[:<thread_ts>]`.
# Memory, locks, response chains and usage are all keyed by it; nothing crosses keys.
ChannelKey = str

Role = Literal["user", "assistant"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    name: str
    is_bot: bool = False
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One platform message, already normalised by its adapter.

    `text` has the platform's mention of the bot rewritten to `@chatbot`; the core decides
    whether the message is addressed and strips the tag.
    """

    platform: str
    channel: ChannelKey
    message_id: str | None
    author: Author
    text: str
    is_direct: bool = False
    is_reply_to_bot: bool = False
    time: datetime = field(default_factory=utcnow)
    # The sender's platform roles (Discord role names/ids, Slack: none yet): `@chatbot reset`
    # checks them against the configured reset_roles.
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    model: str = ""
    provider: str = ""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What the core asks memory to store."""

    channel: ChannelKey
    platform: str
    role: Role
    author_id: str
    author_name: str
    text: str
    created_at: datetime
    platform_message_id: str | None = None
    tag: str | None = None
    usage: Usage | None = None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class ChannelState:
    """Per-conversation state kept beside the messages."""

    channel: ChannelKey
    response_id: str | None = None  # the Responses API chain's last id
    response_message_id: int | None = None  # the last message that request carried
    reset_after_id: int = 0  # history at or before this id is forgotten by the model


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as memory returns it: `id` grows with insertion order within the store."""

    id: int
    channel: ChannelKey
    platform: str
    role: Role
    author_id: str
    author_name: str
    text: str
    created_at: datetime
    platform_message_id: str | None = None
    tag: str | None = None
    usage: Usage | None = None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens of the stored answers of one model, summed (memory's `usage` aggregate)."""

    model: str
    provider: str
    answers: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
