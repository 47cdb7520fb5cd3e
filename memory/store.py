"""SQLStore: the core's Memory on SQLite or PostgreSQL through SQLAlchemy's async engine."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, delete, event, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.memory import MemoryUnavailable
from bot.tools.base import ToolResult
from bot.types import (
    ChannelKey,
    ChannelSettings,
    ChannelState,
    Charge,
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
from memory import long_memory, search_index, spending
from memory.database import AsyncConnections, Database, Op, SQLiteThreads, sqlite_pragmas
from memory.files import INLINE_MAX, FileFolder, default_files_dir
from memory.rows import ATTACHMENTS, CHANNELS, MESSAGES, TOOL_CALLS
from memory.rows import to_stored as _to_stored
from memory.rows import utc as _utc

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./chatbot.db"
UPLOAD_TTL = timedelta(days=1)  # a web upload not sent with a message by then is deleted
T = TypeVar("T")
# A row to insert, and the spending counters it counts in (answers: bot/spending.py).
Row = tuple[dict[str, object], Charge | None]

_table = MESSAGES
_c = _table.c
_channels = CHANNELS
_files = ATTACHMENTS
_f = _files.c
_FILE_META = [c for c in _f if c.name != "data"]  # every column but the bytes


def make_engine(url: str, *, busy_timeout: float = 30.0) -> AsyncEngine:
    """The async engine: migrations on both engines, and every query on PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # No ping before each checkout: it was a round trip on every operation (about 2 ms of a
    # PostgreSQL turn's 13). A connection found dead fails its operation, SQLAlchemy then
    # drops every connection of the pool made before, and `_retrying` runs it again.
    return create_async_engine(url)


class SQLStore:
    """Implements bot.memory.Memory. Transient database errors are retried briefly.

    Every operation is a plain function of a connection, run by memory/database.py: on a
    small thread pool for SQLite, on the async engine for PostgreSQL.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        busy_timeout: float = 30.0,
        group_commit: bool = True,
        files_dir: str | os.PathLike[str] | None = None,
        inline_max: int = INLINE_MAX,
    ):
        """`group_commit`: on SQLite, messages that arrive together are written together
        (bench/store_writes.py measures what it buys). `files_dir` and `inline_max`: where
        attachment bytes go (memory/files.py)."""
        self.engine = engine
        self.folder = FileFolder(
            files_dir
            if files_dir is not None
            else default_files_dir(engine.url.render_as_string(False))
        )
        self.inline_max = inline_max
        self.group_commit = group_commit
        self.retries = retries
        self.backoff = backoff
        self._sqlite = engine.dialect.name == "sqlite"
        self._db: Database = (
            SQLiteThreads(engine.url, busy_timeout=busy_timeout)
            if self._sqlite
            else AsyncConnections(engine)
        )
        self._pending: list[tuple[Row, asyncio.Future[StoredMessage | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_DATABASE_URL,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        busy_timeout: float = 30.0,
        group_commit: bool = True,
        files_dir: str | os.PathLike[str] | None = None,
        inline_max: int = INLINE_MAX,
    ) -> SQLStore:
        """`busy_timeout`: how long an SQLite connection waits for another process's write."""
        return cls(
            make_engine(url, busy_timeout=busy_timeout),
            retries=retries,
            backoff=backoff,
            busy_timeout=busy_timeout,
            group_commit=group_commit,
            files_dir=files_dir,
            inline_max=inline_max,
        )

    async def create_schema(self) -> None:
        """Create or upgrade the schema with the Alembic migrations (memory/migrate.py)."""
        from memory.migrate import upgrade

        before, after = await upgrade(self.engine)
        if before != after:
            log.info("database schema upgraded from %s to %s", before or "nothing", after)

    async def close(self) -> None:
        await self._db.close()
        await self.engine.dispose()

    async def _retrying(self, op: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.retries):
            try:
                return await op()
            except IntegrityError:
                raise
            except (OperationalError, DBAPIError, OSError, ConnectionError) as exc:
                if attempt == self.retries - 1:
                    raise MemoryUnavailable(str(exc)) from exc
                log.warning("database error, retrying: %s", exc.__class__.__name__)
                await asyncio.sleep(self.backoff * 3**attempt)
        raise AssertionError("unreachable")

    async def _read(self, op: Op[T]) -> T:
        return await self._retrying(lambda: self._db.read(op))

    async def _write(self, op: Op[T]) -> T:
        return await self._retrying(lambda: self._db.write(op))

    async def read(self, op: Op[T]) -> T:
        """Run a read-only function of a connection (the console's read model,
        memory/console_queries.py), with the store's retries."""
        return await self._read(op)

    async def add(self, message: NewMessage) -> StoredMessage | None:
        u = message.usage
        values: dict[str, object] = {
            "channel": message.channel,
            "platform": message.platform,
            "platform_message_id": message.platform_message_id,
            "role": message.role,
            "author_id": message.author_id,
            "author_name": message.author_name,
            "tag": message.tag,
            "text": message.text,
            "created_at": message.created_at.astimezone(UTC),
            "input_tokens": u.input_tokens if u else None,
            "output_tokens": u.output_tokens if u else None,
            "total_tokens": u.total_tokens if u else None,
            "model": u.model if u else None,
            "provider": u.provider if u else None,
            "flagged": message.flagged,
            "command": message.command,
            "author_is_bot": message.author_is_bot,
            "asker_id": message.asker_id,
            "context": message.context,
            "cached_input_tokens": u.cached_input_tokens if u else None,
            "cost_usd": u.cost_usd if u else None,
        }
        row: Row = (values, message.charge)
        if self._sqlite and self.group_commit:
            return await self._add_batched(row)
        return await self._add_one(row)

    async def _add_one(self, row: Row) -> StoredMessage | None:
        def op(conn: Connection) -> StoredMessage:
            return _insert_many(conn, [row])[0]

        try:
            return await self._write(op)
        except IntegrityError:
            return None  # (platform, platform_message_id) already stored: a duplicate delivery

    # SQLite group commit: messages that arrive while a write is in progress are inserted
    # together, in one statement and one transaction, by a single flusher task. A burst of 100
    # turns then costs a few commits instead of 200 serialised ones.

    async def _add_batched(self, row: Row) -> StoredMessage | None:
        future: asyncio.Future[StoredMessage | None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                rows = await self._write(_insert_all([r for r, _ in batch]))
            except MemoryUnavailable as exc:  # the database is gone for everyone alike
                for _, future in batch:
                    _settle(future, error=exc)
                continue
            except Exception:
                # One row failed the statement (a duplicate delivery, a value the driver
                # refuses): insert one at a time, so only that row's sender hears about it.
                for row, future in batch:
                    try:
                        _settle(future, result=await self._add_one(row))
                    except Exception as exc:
                        _settle(future, error=exc)
                continue
            for (_, future), stored in zip(batch, rows, strict=True):
                _settle(future, result=stored)

    async def recent(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        after_id: int = 0,
        up_to_id: int | None = None,
    ) -> list[StoredMessage]:
        params = _recent_params(channel, limit, after_id, up_to_id)
        return await self._read(lambda conn: _recent(conn, params))

    async def state(self, channel: ChannelKey) -> ChannelState:
        return await self._read(lambda conn: _state(conn, channel))

    async def context(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        up_to_id: int,
        author_id: str | None = None,
        summary_scope: str | None = None,
    ) -> TurnRead:
        # One operation: on PostgreSQL each is a pool checkout and a few round trips, on
        # SQLite a hop to a thread; a turn used to pay three of them here.
        def op(conn: Connection) -> TurnRead:
            state = _state(conn, channel)
            if author_id is not None:
                history = _recent_of(conn, channel, author_id, limit, state, up_to_id)
            else:
                params = _recent_params(channel, limit, state.reset_after_id, up_to_id)
                history = _recent(conn, params)
            summary = None
            if summary_scope is not None:
                summary = long_memory.latest_summary(conn, channel, summary_scope)
            return TurnRead(state, history, summary, _files_of(conn, [m.id for m in history]))

        return await self._read(op)

    async def _upsert_channel(self, channel: ChannelKey, values: dict[str, object]) -> None:
        values = {**values, "updated_at": datetime.now(UTC)}
        by_channel = _channels.c.channel == channel

        def op(conn: Connection) -> None:
            if conn.execute(update(_channels).where(by_channel).values(**values)).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(_channels).values(channel=channel, **values))
            except IntegrityError:  # another process created it first
                conn.execute(update(_channels).where(by_channel).values(**values))

        await self._write(op)

    async def save_chain(
        self, channel: ChannelKey, response_id: str | None, message_id: int | None
    ) -> None:
        await self._upsert_channel(
            channel, {"response_id": response_id, "response_message_id": message_id}
        )

    async def reset(self, channel: ChannelKey, up_to_id: int) -> None:
        await self._upsert_channel(
            channel,
            {"reset_after_id": up_to_id, "response_id": None, "response_message_id": None},
        )

    async def forget(self, channel: ChannelKey, up_to_id: int) -> int:
        """`reset_deletes`: the messages up to the reset go, with everything derived from them
        (their index entries, embeddings, files, and the channel's summaries), and the
        channel's uploads never sent."""
        where = (_c.channel == channel) & (_c.id <= up_to_id)
        unsent = (_f.channel == channel) & _f.message_id.is_(None)

        def op(conn: Connection) -> tuple[int, list[str]]:
            gone, on_disk = _delete_messages(conn, where)
            long_memory.delete_summaries(conn, channel)
            t = TOOL_CALLS.c  # those of turns that failed belong to no message
            conn.execute(delete(TOOL_CALLS).where((t.channel == channel) & t.message_id.is_(None)))
            return gone, on_disk + _drop_files(conn, unsent)

        gone, on_disk = await self._write(op)
        await self._remove_from_disk(on_disk)
        return gone

    async def forget_author(self, channel: ChannelKey, author_id: str) -> int:
        """`forget me`: the author's messages here and what was derived from them (files
        included); the channel's summaries too (they are rebuilt from what is left)."""
        where = (_c.channel == channel) & (_c.author_id == author_id) & (_c.role == "user")

        def op(conn: Connection) -> tuple[int, list[str]]:
            gone, on_disk = _delete_messages(conn, where)
            long_memory.delete_summaries(conn, channel)
            t = TOOL_CALLS.c  # what tools were asked on their behalf (the arguments)
            conn.execute(
                delete(TOOL_CALLS).where((t.channel == channel) & (t.asker_id == author_id))
            )
            return gone, on_disk

        gone, on_disk = await self._write(op)
        await self._remove_from_disk(on_disk)
        return gone

    async def edit(self, platform: str, platform_message_id: str, text: str) -> bool:
        where = (_c.platform == platform) & (_c.platform_message_id == platform_message_id)

        def op(conn: Connection) -> bool:
            found = conn.execute(
                select(_c.id, _c.channel, _c.flagged, _c.command).where(where)
            ).all()
            if not found:
                return False
            conn.execute(update(_table).where(where).values(text=text))
            ids = [r[0] for r in found]
            search_index.remove(conn, ids)
            long_memory.delete_embeddings(conn, ids)
            search_index.add(conn, [(r[0], r[1], text) for r in found if not r[2] and r[3] is None])
            return True

        return await self._write(op)

    async def delete(self, platform: str, platform_message_ids: Sequence[str]) -> int:
        if not platform_message_ids:
            return 0
        where = (_c.platform == platform) & _c.platform_message_id.in_(list(platform_message_ids))
        gone, on_disk = await self._write(lambda conn: _delete_messages(conn, where))
        await self._remove_from_disk(on_disk)
        return gone

    # -- tools ------------------------------------------------------------------------------

    async def save_tool_calls(
        self,
        channel: ChannelKey,
        message_id: int | None,
        asker_id: str,
        results: Sequence[ToolResult],
    ) -> None:
        if not results:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "message_id": message_id,
                "channel": channel,
                "asker_id": asker_id[:255],
                "name": r.call.name[:64],
                "arguments": r.call.arguments[:2000],
                "result_chars": len(r.output),
                "seconds": r.seconds,
                "error": r.error,
                "created_at": now,
            }
            for r in results
        ]
        await self._write(lambda conn: conn.execute(insert(TOOL_CALLS), rows))

    async def tool_usage(
        self, channel: ChannelKey, since: datetime | None = None
    ) -> dict[str, int]:
        t = TOOL_CALLS.c
        query = select(t.name, func.count()).where(t.channel == channel)
        if since is not None:
            query = query.where(t.created_at >= since.astimezone(UTC))
        query = query.group_by(t.name)
        rows = await self._read(lambda conn: conn.execute(query).all())
        return {str(name): int(n) for name, n in rows}

    # -- long memory (derived data beside the transcript: memory/long_memory.py) --------------

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
        return await self._read(
            lambda conn: long_memory.recall(
                conn, channel, question, after_id, before_id, limit, author_id
            )
        )

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
        return await self._read(
            lambda conn: long_memory.nearest(
                conn, channel, model, vector, after_id, before_id, limit, author_id
            )
        )

    async def summary(self, channel: ChannelKey, scope: str = "") -> Summary | None:
        return await self._read(lambda conn: long_memory.latest_summary(conn, channel, scope))

    async def save_summary(self, summary: Summary) -> None:
        await self._write(lambda conn: long_memory.save_summary(conn, summary))

    async def following(
        self,
        channel: ChannelKey,
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        return await self._read(
            lambda conn: long_memory.following(conn, channel, after_id, before_id, limit, author_id)
        )

    async def unembedded(self, model: str, limit: int) -> list[StoredMessage]:
        return await self._read(lambda conn: long_memory.unembedded(conn, model, limit))

    async def save_embeddings(
        self, model: str, vectors: Sequence[tuple[StoredMessage, bytes]]
    ) -> None:
        await self._write(lambda conn: long_memory.save_embeddings(conn, model, vectors))

    async def stats(self, channel: ChannelKey) -> MemoryStats:
        return await self._read(lambda conn: long_memory.stats(conn, channel))

    # -- attachments ----------------------------------------------------------------------

    async def _remove_from_disk(self, ids: list[str]) -> None:
        if ids:
            try:
                await asyncio.to_thread(self.folder.remove, ids)
            except OSError as exc:  # the rows are gone; a stray file is only disk space
                log.warning("could not remove %d files: %s", len(ids), exc.__class__.__name__)

    async def add_files(
        self, message_id: int | None, files: Sequence[NewAttachment]
    ) -> list[StoredAttachment]:
        if not files:
            return []
        rows: list[dict[str, object]] = []
        to_disk: list[tuple[str, bytes]] = []
        for f in files:
            attachment_id = uuid.uuid4().hex
            data = f.data
            on_disk = data is not None and len(data) > self.inline_max
            if on_disk:
                assert data is not None
                to_disk.append((attachment_id, data))
            rows.append(
                {
                    "id": attachment_id,
                    "channel": f.channel,
                    "message_id": message_id,
                    "name": f.name[:255],
                    "kind": f.kind,
                    "media_type": f.media_type[:64],
                    "size": len(data) if data is not None else 0,
                    "width": f.width,
                    "height": f.height,
                    "author_name": f.author_name[:255],
                    "created_at": f.created_at.astimezone(UTC),
                    "note": f.note[:255] if f.note else None,
                    "data": None if on_disk else data,
                    "on_disk": on_disk,
                }
            )

        def write_all() -> None:
            for attachment_id, data in to_disk:
                self.folder.write(attachment_id, data)

        try:
            await asyncio.to_thread(write_all)
        except OSError as exc:
            await self._remove_from_disk([i for i, _ in to_disk])
            raise MemoryUnavailable(f"the files folder is not writable: {exc}") from exc

        # Uploads nobody sent within a day (a closed tab) go when the next one arrives.
        stale = (
            _f.message_id.is_(None)
            & (_f.created_at < datetime.now(UTC) - UPLOAD_TTL)
            & _f.channel.in_({f.channel for f in files})
            & _f.id.not_in([r["id"] for r in rows])
        )

        def op(conn: Connection) -> list[str]:
            conn.execute(insert(_files), rows)
            return _drop_files(conn, stale) if message_id is None else []

        try:
            dropped = await self._write(op)
        except BaseException:
            await self._remove_from_disk([i for i, _ in to_disk])
            raise
        await self._remove_from_disk(dropped)
        return [_to_file(r) for r in rows]

    async def link_uploads(
        self, channel: ChannelKey, upload_ids: Sequence[str], author_name: str, message_id: int
    ) -> list[StoredAttachment]:
        ids = list(dict.fromkeys(upload_ids))
        if not ids:
            return []
        mine = (
            _f.id.in_(ids),
            _f.channel == channel,
            _f.author_name == author_name,
            _f.message_id.is_(None),
        )

        def op(conn: Connection) -> list[StoredAttachment]:
            conn.execute(update(_files).where(*mine).values(message_id=message_id))
            found = conn.execute(
                select(*_FILE_META).where(_f.id.in_(ids), _f.message_id == message_id)
            ).all()
            by_id = {r.id: _to_file(r._mapping) for r in found}
            return [by_id[i] for i in ids if i in by_id]

        return await self._write(op)

    async def files_of(self, message_ids: Sequence[int]) -> dict[int, list[StoredAttachment]]:
        ids = list(message_ids)
        if not ids:
            return {}
        return await self._read(lambda conn: _files_of(conn, ids))

    async def file(self, attachment_id: str) -> StoredAttachment | None:
        query = select(*_FILE_META).where(_f.id == attachment_id)

        def op(conn: Connection) -> StoredAttachment | None:
            row = conn.execute(query).first()
            return _to_file(row._mapping) if row is not None else None

        return await self._read(op)

    async def file_data(self, attachment_id: str) -> bytes | None:
        query = select(_f.data, _f.on_disk).where(_f.id == attachment_id)
        row = await self._read(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        data, on_disk = row
        if on_disk:
            return await asyncio.to_thread(self.folder.read, attachment_id)
        return bytes(data) if data is not None else None

    async def usage(self, channel: ChannelKey, since: datetime | None = None) -> list[UsageTotal]:
        query = select(
            _c.model,
            _c.provider,
            func.count(),
            func.coalesce(func.sum(_c.input_tokens), 0),
            func.coalesce(func.sum(_c.output_tokens), 0),
            func.coalesce(func.sum(_c.total_tokens), 0),
            func.coalesce(func.sum(_c.cost_usd), 0.0),
        ).where(_c.channel == channel, _c.model.is_not(None))
        if since is not None:
            query = query.where(_c.created_at >= since.astimezone(UTC))
        query = query.group_by(_c.model, _c.provider).order_by(_c.model, _c.provider)

        def op(conn: Connection) -> list[UsageTotal]:
            return [
                UsageTotal(
                    model=r[0] or "",
                    provider=r[1] or "",
                    answers=int(r[2]),
                    input_tokens=int(r[3]),
                    output_tokens=int(r[4]),
                    total_tokens=int(r[5]),
                    cost_usd=float(r[6]),
                )
                for r in conn.execute(query).all()
            ]

        return await self._read(op)

    # -- spending counters, run-time channel settings, failed turns (memory/spending.py) ------

    async def spent(self, keys: Sequence[CounterKey], since: date) -> list[DaySpend]:
        keys = list(keys)
        return await self._read(lambda conn: spending.spent(conn, keys, since))

    async def channel_settings(self) -> list[ChannelSettings]:
        return await self._read(spending.channel_settings)

    async def save_channel_settings(self, settings: ChannelSettings) -> None:
        await self._write(lambda conn: spending.save_channel_settings(conn, settings))

    async def record_failure(self, failure: FailedTurn) -> None:
        await self._write(lambda conn: spending.record_failure(conn, failure))


# The reads every turn makes, built once: only their parameters change.
_NEWEST = (
    select(_table)
    .where(
        _c.channel == bindparam("channel"),
        _c.id > bindparam("after_id"),
        _c.id <= bindparam("up_to_id"),
    )
    .order_by(_c.id.desc())
    .limit(bindparam("limit"))
)
_STATE = select(
    _channels.c.response_id, _channels.c.response_message_id, _channels.c.reset_after_id
).where(_channels.c.channel == bindparam("channel"))
_NO_UPPER_BOUND = 2**62


def _recent_params(
    channel: ChannelKey, limit: int, after_id: int, up_to_id: int | None
) -> dict[str, object]:
    return {
        "channel": channel,
        "limit": limit,
        "after_id": after_id,
        "up_to_id": _NO_UPPER_BOUND if up_to_id is None else up_to_id,
    }


def _recent(conn: Connection, params: dict[str, object]) -> list[StoredMessage]:
    return [_to_stored(r) for r in reversed(conn.execute(_NEWEST, params).all())]


def _recent_of(
    conn: Connection,
    channel: ChannelKey,
    author_id: str,
    limit: int,
    state: ChannelState,
    up_to_id: int,
) -> list[StoredMessage]:
    """Per-member memory: one person's messages and the answers to them, newest `limit`."""
    rows = conn.execute(
        select(_table)
        .where(
            _c.channel == channel,
            _c.id > state.reset_after_id,
            _c.id <= up_to_id,
            (_c.author_id == author_id) | (_c.asker_id == author_id),
        )
        .order_by(_c.id.desc())
        .limit(limit)
    ).all()
    return [_to_stored(r) for r in reversed(rows)]


def _files_of(conn: Connection, ids: list[int]) -> dict[int, list[StoredAttachment]]:
    found: dict[int, list[StoredAttachment]] = {}
    if not ids:
        return found
    query = select(*_FILE_META).where(_f.message_id.in_(ids)).order_by(_f.created_at)
    for row in conn.execute(query).all():
        item = _to_file(row._mapping)
        assert item.message_id is not None
        found.setdefault(item.message_id, []).append(item)
    return found


def _state(conn: Connection, channel: ChannelKey) -> ChannelState:
    return _channel_state(channel, conn.execute(_STATE, {"channel": channel}).first())


def _channel_state(channel: ChannelKey, row: Sequence[Any] | None) -> ChannelState:
    """From (response_id, response_message_id, reset_after_id), or None for a channel never seen."""
    if row is None:
        return ChannelState(channel=channel)
    response_id, response_message_id, reset_after_id = row
    return ChannelState(
        channel=channel,
        response_id=response_id,
        response_message_id=response_message_id,
        reset_after_id=reset_after_id or 0,
    )


def _to_file(m: Mapping[Any, Any]) -> StoredAttachment:
    return StoredAttachment(
        id=m["id"],
        channel=m["channel"],
        message_id=m["message_id"],
        name=m["name"],
        kind=m["kind"],
        media_type=m["media_type"],
        size=m["size"] or 0,
        author_name=m["author_name"],
        created_at=_utc(m["created_at"]),
        width=m["width"],
        height=m["height"],
        note=m["note"],
    )


def _drop_files(conn: Connection, where: Any) -> list[str]:
    """Delete the attachment rows `where` selects; the ids whose bytes are on disk."""
    on_disk = [r[0] for r in conn.execute(select(_f.id).where(where, _f.on_disk)).all()]
    conn.execute(delete(_files).where(where))
    return on_disk


def _insert_all(rows: list[Row]) -> Op[list[StoredMessage]]:
    return lambda conn: _insert_many(conn, rows)


def _insert_many(conn: Connection, rows: list[Row]) -> list[StoredMessage]:
    result = conn.execute(
        insert(_table).returning(*_c, sort_by_parameter_order=True), [v for v, _ in rows]
    )
    stored = [_to_stored(r) for r in result.all()]
    # The full-text index, in the same transaction: never recalled, never indexed.
    search_index.add(
        conn, [(m.id, m.channel, m.text) for m in stored if not m.flagged and m.command is None]
    )
    # Answers count in the spending counters in the same transaction: a stored answer is
    # always counted, and a counted one always stored.
    charged = [
        (
            charge,
            m.usage.total_tokens if m.usage else 0,
            (m.usage.cost_usd or 0.0) if m.usage else 0.0,
        )
        for (_, charge), m in zip(rows, stored, strict=True)
        if charge is not None
    ]
    if charged:
        spending.add_charges(conn, charged)
    return stored


def _delete_messages(conn: Connection, where: Any) -> tuple[int, list[str]]:
    """Delete messages and what is derived from each (index entries, embeddings, files);
    returns how many, and the ids of files whose bytes are on disk (to remove after commit)."""
    ids = [r[0] for r in conn.execute(select(_c.id).where(where)).all()]
    if not ids:
        return 0, []
    search_index.remove(conn, ids)
    long_memory.delete_embeddings(conn, ids)
    on_disk: list[str] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        on_disk += _drop_files(conn, _f.message_id.in_(chunk))
        conn.execute(delete(TOOL_CALLS).where(TOOL_CALLS.c.message_id.in_(chunk)))
        conn.execute(delete(_table).where(_c.id.in_(chunk)))
    return len(ids), on_disk


def _settle(
    future: asyncio.Future[StoredMessage | None],
    *,
    result: StoredMessage | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # the caller stopped waiting (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
