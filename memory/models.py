"""The tables. Times are stored as UTC; memory/store.py attaches the zone on the way out."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

# The Slack adapter's tables (installations, OAuth states): in this database, not memory.
from memory import slack_installations  # noqa: F401  (registers them on SQLModel.metadata)


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # The hot path: a channel's newest N messages is one range scan of this index.
        Index("ix_messages_channel_id", "channel", "id"),
        # De-duplication of platform deliveries (Slack retries, app_mention + message).
        UniqueConstraint("platform", "platform_message_id", name="uq_messages_platform_msg"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    channel: str = Field(max_length=255)
    platform: str = Field(max_length=32)
    platform_message_id: str | None = Field(default=None, max_length=255)
    role: str = Field(max_length=16)
    author_id: str = Field(max_length=255)
    author_name: str = Field(max_length=255)
    tag: str | None = Field(default=None, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    model: str | None = Field(default=None, max_length=128)
    provider: str | None = Field(default=None, max_length=64)
    # Set when moderation flagged the message: stored, never sent to a model.
    flagged: bool = Field(default=False, nullable=False)
    # `help`, `reset`, `usage` when the message was that command: kept out of model context.
    command: str | None = Field(default=None, max_length=16)
    # Another bot wrote it: the core's bot-loop guard counts answers to bots in a row.
    author_is_bot: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # Answers: who asked (per-member memory reads a person's questions and their answers).
    asker_id: str | None = Field(default=None, max_length=255)
    # Answers: what the model was given, tokens per part (JSON), for `@chatbot memory`.
    context: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Answers: of input_tokens, those the provider served from its prompt cache.
    cached_input_tokens: int | None = None
    # Answers: the estimated cost in USD, from the price table (bot/prices.py); None: no price.
    cost_usd: float | None = Field(default=None, sa_column=Column(Float, nullable=True))


class ChannelRow(SQLModel, table=True):
    """Per-conversation state that is not a message."""

    __tablename__ = "channels"

    channel: str = Field(primary_key=True, max_length=255)
    # Responses API chain: the last response id, and the id of the stored answer it produced
    # (turns after that message are what the next call sends along with the id).
    response_id: str | None = Field(default=None, max_length=255)
    response_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # `@chatbot reset`: history at or before this message id is no longer sent to the model.
    reset_after_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class SummaryRow(SQLModel, table=True):
    """A channel's rolling summary, one row per version: derived data, rebuilt from messages.

    `scope` is "" for the room's shared memory, or an author id for per-member memory. The
    newest row of a (channel, scope) is the one in use; `covers_up_to_id` is the last message
    it summarises. The transcript is never changed by summarising.
    """

    __tablename__ = "summaries"
    __table_args__ = (Index("ix_summaries_channel_scope_id", "channel", "scope", "id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    channel: str = Field(max_length=255)
    scope: str = Field(default="", max_length=255)
    covers_up_to_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    covers_messages: int = Field(default=0)  # how many messages it has folded in, in all
    text: str = Field(sa_column=Column(Text, nullable=False))
    model: str = Field(default="", max_length=128)
    input_tokens: int = Field(default=0)
    output_tokens: int = Field(default=0)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class EmbeddingRow(SQLModel, table=True):
    """A message's embedding for semantic recall (CHATBOT_EMBEDDING_MODEL): derived data."""

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_channel_message", "channel", "message_id"),)

    message_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    channel: str = Field(max_length=255)
    model: str = Field(max_length=128)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32, native order


class AttachmentRow(SQLModel, table=True):
    """A file on a message: its metadata, and its bytes when they are small (memory/files.py).

    Bigger files live in the files folder under their id. A web upload has no message until
    the frame that sends it arrives (`message_id` NULL meanwhile).
    """

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_message_id", "message_id"),
        Index("ix_attachments_channel_message", "channel", "message_id"),
    )

    id: str = Field(primary_key=True, max_length=32)  # random hex: `GET /files/{id}`
    channel: str = Field(max_length=255)
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    name: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # image, text, other (named only, not read)
    media_type: str = Field(max_length=64)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    width: int | None = None
    height: int | None = None
    author_name: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str | None = Field(default=None, max_length=255)
    # The bytes of a small file; NULL when they are in the files folder (or there are none).
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    on_disk: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class ToolCallRow(SQLModel, table=True):
    """A tool the model called while writing an answer (bot/tools): for usage and metrics."""

    __tablename__ = "tool_calls"
    __table_args__ = (Index("ix_tool_calls_channel_id", "channel", "id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    channel: str = Field(max_length=255)
    asker_id: str | None = Field(default=None, max_length=255)  # whose question (forget me)
    name: str = Field(max_length=64)
    arguments: str = Field(sa_column=Column(Text, nullable=False))  # as sent, cut at 2,000
    result_chars: int = Field(default=0)
    seconds: float = Field(default=0.0)
    error: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class UsageCountRow(SQLModel, table=True):
    """Spending counters (bot/spending.py): what one subject of a scope spent on one UTC day,
    on every tag (`tag` "") or on one. Written with each answer, in its transaction; a turn's
    limit check reads a few of them by primary key, whatever the number of stored answers."""

    __tablename__ = "usage_counts"

    scope: str = Field(primary_key=True, max_length=16)  # user | channel | platform
    subject: str = Field(primary_key=True, max_length=255)
    tag: str = Field(primary_key=True, max_length=64)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cost_usd: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    answers: int = Field(default=0, nullable=False)


class ChannelSettingsRow(SQLModel, table=True):
    """A channel's settings changed at run time (the console), over the TOML's; NULL: the
    TOML's value holds. `limits` is a JSON list of limits (bot/types.py Limit)."""

    __tablename__ = "channel_settings"

    channel: str = Field(primary_key=True, max_length=255)
    persona: str | None = Field(default=None, max_length=64)
    system_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    limits: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class FailedTurnRow(SQLModel, table=True):
    """An addressed turn that ended in a failure line, by kind (the console's errors chart;
    Prometheus has the same counts without where and when)."""

    __tablename__ = "turn_failures"
    __table_args__ = (Index("ix_turn_failures_created_at", "created_at"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    channel: str = Field(max_length=255)
    platform: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    tag: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
