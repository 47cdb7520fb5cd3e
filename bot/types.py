"""Typed values that cross the boundary between the core, the adapters and memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, NamedTuple

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
    """One platform message, as its adapter saw it.

    `text` is what the person wrote, with the platform's mention syntax made readable (the
    bot's own mention reads `@chatbot`, where it was written). The adapter reports facts
    (`mentions_bot`, `reply_to_bot`, `is_direct`); the core alone decides whether the message
    is addressed, by which tag, and what the model sees.
    """

    platform: str
    channel: ChannelKey
    message_id: str | None
    author: Author
    text: str
    mentions_bot: bool = False  # the platform says the bot (or its role) was mentioned
    reply_to_bot: bool = False  # a reply to one of the bot's messages
    is_direct: bool = False  # a direct message with the bot
    in_thread: bool = False  # a reply in a thread (the core knows whether the bot is part of it)
    time: datetime = field(default_factory=utcnow)
    # The sender's platform roles (Discord role names/ids, Slack: none yet): `@chatbot reset`
    # checks them against the configured reset_roles.
    roles: tuple[str, ...] = ()
    # Where the message came from on the network, for per-source turn limits: the web chat's
    # client address. None where the platform vouches for its users (Slack, Discord).
    source: str | None = None
    # The channel a thread belongs to (Slack, Discord threads): spending limits per channel
    # count a thread's answers with its channel's. None outside threads.
    parent_channel: ChannelKey | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    model: str = ""
    provider: str = ""
    # Of input_tokens, those the provider served from its prompt cache (billed lower).
    cached_input_tokens: int = 0
    # What the answer cost, estimated from the price table (bot/prices.py); None: no price.
    cost_usd: float | None = None


Scope = Literal["user", "channel", "platform"]
Period = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class Limit:
    """A spending limit (`[[limits]]` in the TOML): at most `tokens` or `cost_usd` per UTC
    `period`, for each user, each channel or each platform; `tag`: only that tag's answers."""

    scope: Scope
    period: Period
    tokens: int | None = None
    cost_usd: float | None = None
    tag: str | None = None


class CounterKey(NamedTuple):
    """One spending counter: what a scope's subject (a user, a channel, a platform) spent,
    on all tags (`tag` "") or on one."""

    scope: str
    subject: str
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Charge:
    """What a stored answer adds to the spending counters: its usage, on `day` (UTC)."""

    day: date
    keys: tuple[CounterKey, ...]


@dataclass(frozen=True, slots=True)
class DaySpend:
    """A counter's total on one UTC day."""

    key: CounterKey
    day: date
    tokens: int
    cost_usd: float
    answers: int


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
    # The tag that answered (assistant rows) or was addressed (user rows; None: plain chat).
    tag: str | None = None
    usage: Usage | None = None
    flagged: bool = False
    command: str | None = None  # `@chatbot help` and friends: kept out of model context
    author_is_bot: bool = False
    asker_id: str | None = None  # answers: who asked
    context: str | None = None  # answers: what the model was given, tokens per part (JSON)
    # Answers: the spending counters it counts in, written with it (bot/spending.py).
    charge: Charge | None = None


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
    # The tag that answered (assistant rows) or was addressed (user rows; None: plain chat).
    tag: str | None = None
    usage: Usage | None = None
    flagged: bool = False
    command: str | None = None  # `@chatbot help` and friends: kept out of model context
    author_is_bot: bool = False
    asker_id: str | None = None  # answers: who asked
    context: str | None = None  # answers: what the model was given, tokens per part (JSON)


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens of the stored answers of one model, summed (memory's `usage` aggregate)."""

    model: str
    provider: str
    answers: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Summary:
    """One version of a channel's rolling summary (derived data: memory can rebuild it).

    `scope` is "" for the room's shared memory, an author id for per-member memory.
    """

    channel: ChannelKey
    scope: str
    covers_up_to_id: int  # the last message it summarises
    covers_messages: int  # how many messages it has folded in, in all
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    created_at: datetime
    id: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """What memory holds for a channel, for `@chatbot memory`."""

    messages: int
    last_context: str | None  # the newest answer's context sizes (JSON), if any


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel's settings changed at run time (the operator's console), over the TOML's.
    None: the TOML's value holds. `limits` replaces the TOML's `[[limits]]` in that channel."""

    channel: ChannelKey
    persona: str | None = None
    system_prompt: str | None = None
    limits: tuple[Limit, ...] | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FailedTurn:
    """An addressed turn that ended in a failure line (errors by kind, for the console)."""

    channel: ChannelKey
    platform: str
    kind: str
    created_at: datetime
    tag: str | None = None
