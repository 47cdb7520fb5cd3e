"""The memory interface the core needs. `memory/` implements it; the core never sees SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.tools.base import ToolResult
from bot.types import (
    ChannelKey,
    ChannelSettings,
    ChannelState,
    CounterKey,
    DaySpend,
    FailedTurn,
    MemoryStats,
    NewAttachment,
    NewMessage,
    StoredAttachment,
    StoredMessage,
    Summary,
    TurnRead,
    UsageTotal,
)


class MemoryUnavailable(Exception):
    """The store could not be reached (after its own short retries)."""


class Memory(Protocol):
    async def add(self, message: NewMessage) -> StoredMessage | None:
        """Store one message and return it with its id.

        Returns None when (platform, platform_message_id) is already stored: this is the
        de-duplication point, in the database, so that a platform's retry, a restart or a
        second process never answers the same post twice. An answer's `charge` is added to
        the spending counters in the same transaction. Raises MemoryUnavailable.
        """
        ...

    async def recent(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        after_id: int = 0,
        up_to_id: int | None = None,
    ) -> list[StoredMessage]:
        """The channel's newest `limit` messages with after_id < id <= up_to_id, oldest first.

        One indexed range scan on (channel, id): its cost does not grow with the table.
        """
        ...

    async def state(self, channel: ChannelKey) -> ChannelState:
        """The channel's state; a default one for a channel never seen."""
        ...

    async def context(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        up_to_id: int,
        author_id: str | None = None,
        summary_scope: str | None = None,
    ) -> TurnRead:
        """What every turn reads before the model call, in one trip: `state(channel)`,
        `recent(channel, limit, after_id=<its reset point>, up_to_id=up_to_id)` and those
        messages' files; with `summary_scope`, `summary(channel, summary_scope)` too. With
        `author_id` (per-member memory): only that person's messages and the answers to them."""
        ...

    async def save_chain(
        self, channel: ChannelKey, response_id: str | None, message_id: int | None
    ) -> None:
        """Remember (or with None, forget) the channel's Responses API chain."""
        ...

    async def reset(self, channel: ChannelKey, up_to_id: int) -> None:
        """Forget history up to `up_to_id` for the model, and drop the response chain."""
        ...

    async def forget(self, channel: ChannelKey, up_to_id: int) -> int:
        """Delete the channel's stored messages with id <= up_to_id, and their files (bytes
        too); returns how many messages."""
        ...

    async def edit(self, platform: str, platform_message_id: str, text: str) -> bool:
        """The person edited a message: store its new text. False when it is not stored."""
        ...

    async def delete(self, platform: str, platform_message_ids: Sequence[str]) -> int:
        """The platform deleted messages: remove them (and their derived data, files
        included); how many."""
        ...

    # -- attachments (bot/attachments.py checks them; the bytes never enter a message) ------

    async def add_files(
        self, message_id: int | None, files: Sequence[NewAttachment]
    ) -> list[StoredAttachment]:
        """Keep files (their bytes too) on a stored message, or as web uploads not yet sent
        (`message_id` None). In the order given."""
        ...

    async def link_uploads(
        self, channel: ChannelKey, upload_ids: Sequence[str], author_name: str, message_id: int
    ) -> list[StoredAttachment]:
        """Put uploads on the message that sends them: only uploads of that channel by that
        author not yet sent. Unknown ids are skipped. In the order given."""
        ...

    async def files_of(self, message_ids: Sequence[int]) -> dict[int, list[StoredAttachment]]:
        """The files of these messages, by message id (messages without files are absent)."""
        ...

    async def file(self, attachment_id: str) -> StoredAttachment | None:
        """One file's metadata, or None."""
        ...

    async def file_data(self, attachment_id: str) -> bytes | None:
        """One file's bytes, or None when it has none (named only) or is gone."""
        ...

    async def usage(self, channel: ChannelKey, since: datetime | None = None) -> list[UsageTotal]:
        """Token usage of the channel's stored answers (created at or after `since`), by model."""
        ...

    # -- spending limits, run-time channel settings, failed turns ---------------------------

    async def spent(self, keys: Sequence[CounterKey], since: date) -> list[DaySpend]:
        """The counters' totals per UTC day from `since` on: one indexed read, whatever the
        number of stored answers."""
        ...

    async def channel_settings(self) -> list[ChannelSettings]:
        """Every channel's settings changed at run time (a small table: the operator's)."""
        ...

    async def save_channel_settings(self, settings: ChannelSettings) -> None:
        """Store a channel's run-time settings; with every value None, remove them."""
        ...

    async def record_failure(self, failure: FailedTurn) -> None:
        """Remember a failed turn (its kind, when, where) for the console."""
        ...

    # -- long memory: derived data beside the transcript, rebuildable from it ---------------

    async def forget_author(self, channel: ChannelKey, author_id: str) -> int:
        """Delete the author's own messages in the channel (and what was derived from them,
        the channel's summaries included); returns how many messages."""
        ...

    async def recall(
        self,
        channel: ChannelKey,
        question: str,
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        """Full-text search of the channel's own unflagged, non-command messages with
        after_id < id < before_id: the best `limit` for `question`, best first."""
        ...

    async def nearest(
        self,
        channel: ChannelKey,
        model: str,
        vector: Sequence[float],
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        """Semantic search among the channel's messages embedded with `model`, best first."""
        ...

    async def summary(self, channel: ChannelKey, scope: str = "") -> Summary | None:
        """The newest version of the channel's summary (scope "": the whole room)."""
        ...

    async def save_summary(self, summary: Summary) -> None: ...

    async def following(
        self,
        channel: ChannelKey,
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        """The oldest `limit` unflagged, non-command messages in (after_id, before_id)."""
        ...

    async def unembedded(self, model: str, limit: int) -> list[StoredMessage]:
        """The newest messages (any channel) not yet embedded with `model`."""
        ...

    async def save_embeddings(
        self, model: str, vectors: Sequence[tuple[StoredMessage, bytes]]
    ) -> None: ...

    async def stats(self, channel: ChannelKey) -> MemoryStats: ...

    # -- tools -----------------------------------------------------------------------------

    async def save_tool_calls(
        self,
        channel: ChannelKey,
        message_id: int | None,
        asker_id: str,
        results: Sequence[ToolResult],
    ) -> None:
        """Keep what a turn's tools did (name, arguments, result size, time, error), with the
        answer (`message_id`; None when the turn failed) and whose question it was (`forget
        me` removes them)."""
        ...

    async def tool_usage(
        self, channel: ChannelKey, since: datetime | None = None
    ) -> dict[str, int]:
        """Tool calls in the channel (since `since`), by tool name."""
        ...
