"""SQLStore: the core's Memory on SQLite or PostgreSQL through SQLAlchemy's async engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.memory import MemoryUnavailable
from bot.types import ChannelKey, ChannelState, NewMessage, StoredMessage, Usage, UsageTotal
from memory.models import ChannelRow, MessageRow

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./chatbot.db"
T = TypeVar("T")

_table = MessageRow.__table__  # type: ignore[attr-defined]
_c = _table.c
_channels = ChannelRow.__table__  # type: ignore[attr-defined]


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; we only ever store UTC, so attach it.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_stored(row: object) -> StoredMessage:
    m = row._mapping  # type: ignore[attr-defined]
    usage = None
    if m["model"] is not None or m["total_tokens"] is not None:
        usage = Usage(
            input_tokens=m["input_tokens"] or 0,
            output_tokens=m["output_tokens"] or 0,
            total_tokens=m["total_tokens"] or 0,
            model=m["model"] or "",
            provider=m["provider"] or "",
        )
    return StoredMessage(
        id=m["id"],
        channel=m["channel"],
        platform=m["platform"],
        role=m["role"],
        author_id=m["author_id"],
        author_name=m["author_name"],
        text=m["text"],
        created_at=_utc(m["created_at"]),
        platform_message_id=m["platform_message_id"],
        tag=m["tag"],
        usage=usage,
        flagged=bool(m["flagged"]),
    )


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Readers never wait in WAL mode: enough connections that a burst of turns rarely queues.
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_size=20, max_overflow=20
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: object, _: object) -> None:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


class SQLStore:
    """Implements bot.memory.Memory. Transient database errors are retried briefly."""

    def __init__(self, engine: AsyncEngine, *, retries: int = 3, backoff: float = 0.2):
        self.engine = engine
        self.retries = retries
        self.backoff = backoff
        # SQLite has one writer at a time, and a connection that finds the database locked
        # sleeps in its busy handler (up to 100 ms a try). Queueing our own writes here instead
        # keeps a burst of turns from sleeping there. PostgreSQL needs no such thing.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._pending: list[tuple[dict[str, object], asyncio.Future[StoredMessage | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._write_lock or contextlib.nullcontext()

    @classmethod
    def from_url(cls, url: str = DEFAULT_DATABASE_URL) -> SQLStore:
        return cls(make_engine(url))

    async def create_schema(self) -> None:
        """Create or upgrade the schema with the Alembic migrations (memory/migrate.py)."""
        from memory.migrate import upgrade

        before, after = await upgrade(self.engine)
        if before != after:
            log.info("database schema upgraded from %s to %s", before or "nothing", after)

    async def close(self) -> None:
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

    async def add(self, message: NewMessage) -> StoredMessage | None:
        u = message.usage
        values = {
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
        }

        if self._write_lock is not None:
            return await self._add_batched(values)
        return await self._add_one(values)

    async def _add_one(self, values: dict[str, object]) -> StoredMessage | None:
        async def op() -> StoredMessage:
            async with self._writing(), self.engine.begin() as conn:
                result = await conn.execute(insert(_table).values(**values).returning(*_c))
                return _to_stored(result.one())

        try:
            return await self._retrying(op)
        except IntegrityError:
            return None  # (platform, platform_message_id) already stored: a duplicate delivery

    # SQLite group commit: messages that arrive while a write is in progress are inserted
    # together, in one statement and one transaction, by a single flusher task. A burst of 100
    # turns then costs a few commits instead of 200 serialised ones.

    async def _add_batched(self, values: dict[str, object]) -> StoredMessage | None:
        future: asyncio.Future[StoredMessage | None] = asyncio.get_running_loop().create_future()
        self._pending.append((values, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                rows = await self._retrying(lambda b=batch: self._insert_many([v for v, _ in b]))
            except IntegrityError:
                # A duplicate somewhere in the batch: find it by inserting one at a time.
                for values, future in batch:
                    try:
                        _settle(future, result=await self._add_one(values))
                    except Exception as exc:
                        _settle(future, error=exc)
                continue
            except Exception as exc:
                for _, future in batch:
                    _settle(future, error=exc)
                continue
            for (_, future), row in zip(batch, rows, strict=True):
                _settle(future, result=row)

    async def _insert_many(self, rows: list[dict[str, object]]) -> list[StoredMessage]:
        async with self._writing(), self.engine.begin() as conn:
            result = await conn.execute(
                insert(_table).returning(*_c, sort_by_parameter_order=True), rows
            )
            return [_to_stored(r) for r in result.all()]

    async def recent(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        after_id: int = 0,
        up_to_id: int | None = None,
    ) -> list[StoredMessage]:
        query = select(_table).where(_c.channel == channel, _c.id > after_id)
        if up_to_id is not None:
            query = query.where(_c.id <= up_to_id)
        query = query.order_by(_c.id.desc()).limit(limit)

        async def op() -> list[StoredMessage]:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            return [_to_stored(r) for r in reversed(rows)]

        return await self._retrying(op)

    async def state(self, channel: ChannelKey) -> ChannelState:
        query = select(_channels).where(_channels.c.channel == channel)

        async def op() -> ChannelState:
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                return ChannelState(channel=channel)
            m = row._mapping
            return ChannelState(
                channel=channel,
                response_id=m["response_id"],
                response_message_id=m["response_message_id"],
                reset_after_id=m["reset_after_id"] or 0,
            )

        return await self._retrying(op)

    async def _upsert_channel(self, channel: ChannelKey, values: dict[str, object]) -> None:
        values = {**values, "updated_at": datetime.now(UTC)}

        async def op() -> None:
            async with self._writing(), self.engine.begin() as conn:
                result = await conn.execute(
                    update(_channels).where(_channels.c.channel == channel).values(**values)
                )
                if result.rowcount == 0:
                    try:
                        async with conn.begin_nested():
                            await conn.execute(insert(_channels).values(channel=channel, **values))
                    except IntegrityError:  # another writer created it first
                        await conn.execute(
                            update(_channels).where(_channels.c.channel == channel).values(**values)
                        )

        await self._retrying(op)

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
        query = delete(_table).where(_c.channel == channel, _c.id <= up_to_id)

        async def op() -> int:
            async with self._writing(), self.engine.begin() as conn:
                return (await conn.execute(query)).rowcount or 0

        return await self._retrying(op)

    async def usage(self, channel: ChannelKey, since: datetime | None = None) -> list[UsageTotal]:
        query = select(
            _c.model,
            _c.provider,
            func.count(),
            func.coalesce(func.sum(_c.input_tokens), 0),
            func.coalesce(func.sum(_c.output_tokens), 0),
            func.coalesce(func.sum(_c.total_tokens), 0),
        ).where(_c.channel == channel, _c.model.is_not(None))
        if since is not None:
            query = query.where(_c.created_at >= since.astimezone(UTC))
        query = query.group_by(_c.model, _c.provider).order_by(_c.model, _c.provider)

        async def op() -> list[UsageTotal]:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            return [
                UsageTotal(
                    model=r[0] or "",
                    provider=r[1] or "",
                    answers=int(r[2]),
                    input_tokens=int(r[3]),
                    output_tokens=int(r[4]),
                    total_tokens=int(r[5]),
                )
                for r in rows
            ]

        return await self._retrying(op)


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
