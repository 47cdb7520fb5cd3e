"""The memory interface the core needs. `memory/` implements it; the core never sees SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.types import (
    ChannelKey,
    ChannelState,
    NewAttachment,
    NewMessage,
    StoredAttachment,
    StoredMessage,
    UsageTotal,
)


class MemoryUnavailable(Exception):
    """The store could not be reached (after its own short retries)."""


class Memory(Protocol):
    async def add(self, message: NewMessage) -> StoredMessage | None:
        """Store one message and return it with its id.

        Returns None when (platform, platform_message_id) is already stored: this is the
        de-duplication point, in the database, so that a platform's retry, a restart or a
        second process never answers the same post twice. Raises MemoryUnavailable.
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
        self, channel: ChannelKey, limit: int, *, up_to_id: int
    ) -> tuple[ChannelState, list[StoredMessage]]:
        """`state(channel)` and `recent(channel, limit, after_id=<its reset point>,
        up_to_id=up_to_id)`, read together: what every turn needs, in one trip."""
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
