"""Typed values that cross the boundary between the core, the adapters and memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


# Reads a file's bytes from where the platform keeps it, at most `limit` of them (the adapter's
# part: its hosts, its token). Raises FileRefused (bot/attachments.py) with the reason to tell.
FetchBytes = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on an incoming message, as the platform describes it. Nothing is read yet: the
    core decides whether to fetch it (only for messages it answers) and checks the bytes."""

    name: str
    content_type: str | None = None  # what the platform claims; the bytes decide
    size: int | None = None  # what the platform claims, checked before fetching
    fetch: FetchBytes | None = None  # None: nothing to fetch (web uploads are already stored)
    upload_id: str | None = None  # the web chat: a file `POST /upload` already stored
    author_name: str | None = None  # when it is another person's (a reply to their post)


@dataclass(frozen=True, slots=True)
class NewAttachment:
    """What the core asks memory to keep of one file: its checked bytes and what they are."""

    channel: ChannelKey
    name: str
    kind: Literal["image", "text", "other"]  # other: kept as a name only (not read)
    media_type: str
    data: bytes | None
    author_name: str
    created_at: datetime
    width: int | None = None
    height: int | None = None
    note: str | None = None  # why it was not read, for the model's `[file: name (note)]`


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment's metadata as memory returns it; its bytes come from `Memory.file_data`."""

    id: str  # unguessable: the web chat serves `GET /files/{id}`
    channel: ChannelKey
    message_id: int | None  # None: a web upload not yet sent with a message
    name: str
    kind: Literal["image", "text", "other"]
    media_type: str
    size: int
    author_name: str
    created_at: datetime
    width: int | None = None
    height: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Viewed:
    """Another conversation the person asks about while looking at it (Slack's agent view:
    "summarise this channel"). The adapter checked that the person and the bot may both read
    it and read its stored messages through `ChatService.history`: the answer reads them
    instead of this conversation's history. When they may not, `refused` is the line for the
    person, and then nothing is read and no model is asked."""

    channel: ChannelKey
    name: str  # how the person knows it: `#general`
    messages: tuple[StoredMessage, ...] = ()
    refused: str | None = None


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
    # The platform says this is an explicit question to the bot (a slash command, a context
    # menu): the value is the tag it names, or the bot's own name. `text` is the question as
    # typed; no tag or mention needs to be in it.
    asks: str | None = None
    time: datetime = field(default_factory=utcnow)
    # The sender's platform roles (Discord role names/ids, Slack: none yet): `@chatbot reset`
    # checks them against the configured reset_roles.
    roles: tuple[str, ...] = ()
    # Where the message came from on the network, for per-source turn limits: the web chat's
    # client address. None where the platform vouches for its users (Slack, Discord).
    source: str | None = None
    # The conversation the person is looking at and asks about (see Viewed), if any.
    viewing: Viewed | None = None
    # Files on the message (and, for a reply that asks about them, on the message it answers).
    attachments: tuple[Attachment, ...] = ()
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
    # Filled where a reader needs them (the web chat's frames), not by every memory read.
    attachments: tuple[StoredAttachment, ...] = ()


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
class TurnRead:
    """What a turn reads from memory before the model call, in one trip (Memory.context)."""

    state: ChannelState
    history: list[StoredMessage]  # the recent window's candidates, oldest first
    summary: Summary | None = None  # the newest summary of the scope asked for, if asked
    files: dict[int, list[StoredAttachment]] = field(default_factory=dict)  # of `history`


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
