"""Rows in and out: the tables as SQLAlchemy Core objects, and a message row as StoredMessage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from bot.types import StoredMessage, Usage
from memory.models import (
    AttachmentRow,
    ChannelRow,
    ChannelSettingsRow,
    EmbeddingRow,
    FailedTurnRow,
    MessageRow,
    SummaryRow,
    ToolCallRow,
    UsageCountRow,
)

MESSAGES: Table = MessageRow.__table__  # type: ignore[attr-defined]
CHANNELS: Table = ChannelRow.__table__  # type: ignore[attr-defined]
SUMMARIES: Table = SummaryRow.__table__  # type: ignore[attr-defined]
EMBEDDINGS: Table = EmbeddingRow.__table__  # type: ignore[attr-defined]
ATTACHMENTS: Table = AttachmentRow.__table__  # type: ignore[attr-defined]
TOOL_CALLS: Table = ToolCallRow.__table__  # type: ignore[attr-defined]
USAGE_COUNTS: Table = UsageCountRow.__table__  # type: ignore[attr-defined]
CHANNEL_SETTINGS: Table = ChannelSettingsRow.__table__  # type: ignore[attr-defined]
FAILURES: Table = FailedTurnRow.__table__  # type: ignore[attr-defined]


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; we only ever store UTC, so attach it.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_stored(row: Any) -> StoredMessage:
    return stored(row._mapping)


def stored(m: Mapping[str, Any]) -> StoredMessage:
    usage = None
    if m["model"] is not None or m["total_tokens"] is not None:
        usage = Usage(
            input_tokens=m["input_tokens"] or 0,
            output_tokens=m["output_tokens"] or 0,
            total_tokens=m["total_tokens"] or 0,
            model=m["model"] or "",
            provider=m["provider"] or "",
            cached_input_tokens=m.get("cached_input_tokens") or 0,
            cost_usd=m.get("cost_usd"),
        )
    return StoredMessage(
        id=m["id"],
        channel=m["channel"],
        platform=m["platform"],
        role=m["role"],
        author_id=m["author_id"],
        author_name=m["author_name"],
        text=m["text"],
        created_at=utc(m["created_at"]),
        platform_message_id=m["platform_message_id"],
        tag=m["tag"],
        usage=usage,
        flagged=bool(m["flagged"]),
        command=m["command"],
        author_is_bot=bool(m["author_is_bot"]),
        asker_id=m["asker_id"],
        context=m["context"],
    )
