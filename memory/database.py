"""How the store reaches its database: each operation is one plain function of a connection.

SQLStore writes every read and write as a synchronous function of a SQLAlchemy `Connection`
and hands it to one of these runners:

- SQLite: `SQLiteThreads` runs the whole function with the stdlib driver, on a small pool of
  threads: one hop to a thread per operation. aiosqlite (behind SQLAlchemy's async engine) hops
  to its thread and back for every cursor call, which cost the event loop about 1.7 ms per
  query. Writes are queued on an asyncio lock, because SQLite has one writer and a connection
  that finds the database locked sleeps in its busy handler (up to 100 ms a try) instead of
  waiting its turn. Nothing runs on the event loop: a read never stalls the chat.
- PostgreSQL: `AsyncConnections` runs the same functions on the async engine (asyncpg or
  psycopg) through `run_sync`, which is already non-blocking.

The queries are the same SQLAlchemy Core statements on both engines (memory/store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.memory import MemoryUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[Connection], T]

SQLITE_THREADS = 2  # the writer and a reader; more only add GIL contention


class Database(Protocol):
    async def read(self, op: Op[T]) -> T:
        """Run `op` on a connection outside any explicit transaction."""
        ...

    async def write(self, op: Op[T]) -> T:
        """Run `op` in one transaction: committed if it returns, rolled back if it raises."""
        ...

    async def close(self) -> None: ...


def sqlite_pragmas(dbapi_conn: object, _: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class DatabaseFileGuard:
    """Refuses to touch an SQLite database whose file was deleted or made unwritable.

    A deleted file stays open: writes "succeed" into a file nobody will ever open again, and
    the messages are gone at the next restart. A write-ahead log or shared-memory index made
    immutable kills the process with SIGBUS the moment SQLite writes to its mapping. Both are
    checked before every operation (a few system calls); the store then answers
    MemoryUnavailable, senders hear `storage_unavailable`, and the log says why, loudly. A
    file that reappears at the path (restored from a backup) is reopened.
    """

    LOG_EVERY = 60.0  # seconds between repeats of the same complaint

    def __init__(self, path: str, reopen: Callable[[], None]):
        self.path = os.path.abspath(path)
        self.reopen = reopen
        self.identity: tuple[int, int] | None = None  # (device, inode) of the file we use
        self._problem: str | None = None
        self._logged = float("-inf")

    def check(self) -> None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            self._refuse("was deleted")
        identity = (found.st_dev, found.st_ino)
        if self.identity is None:
            self.identity = identity
        elif identity != self.identity:
            log.error("DATABASE FILE %s WAS REPLACED: reopening it", self.path)
            self.reopen()
            self.identity = identity
        for suffix in ("", "-wal", "-shm"):
            name = self.path + suffix
            if not os.access(name, os.W_OK) and os.path.exists(name):
                self._refuse(f"is not writable ({os.path.basename(name)})")
        if self._problem is not None:
            log.error("database file %s is usable again", self.path)
            self._problem = None

    def _refuse(self, problem: str) -> None:
        now = time.monotonic()
        if problem != self._problem or now - self._logged > self.LOG_EVERY:
            log.error(
                "DATABASE FILE %s %s: messages are NOT being stored until it is fixed",
                self.path,
                problem,
            )
            self._problem, self._logged = problem, now
        raise MemoryUnavailable(f"database file {problem}")


def _file_of(url: URL) -> str | None:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


class SQLiteThreads:
    def __init__(self, url: URL, *, busy_timeout: float = 30.0, threads: int = SQLITE_THREADS):
        path = _file_of(url)
        if path is not None:
            # Open read-write only: a deleted file must not silently come back empty.
            url = url.set(database=f"file:{path}", query={"mode": "rw", "uri": "true"})
        self.guard = DatabaseFileGuard(path, self._reopen) if path is not None else None
        self.engine: Engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": busy_timeout},
            pool_size=threads,
            max_overflow=0,
        )
        event.listen(self.engine, "connect", sqlite_pragmas)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="sqlite")
        self._write_lock = asyncio.Lock()

    def _reopen(self) -> None:
        self.engine.dispose()

    def _check(self) -> None:
        if self.guard is not None:
            self.guard.check()

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn)

    async def read(self, op: Op[T]) -> T:
        self._check()

        def run() -> T:
            with self.engine.connect() as conn:
                return op(conn)

        return await self._in_thread(run)

    async def write(self, op: Op[T]) -> T:
        def run() -> T:
            with self.engine.begin() as conn:
                return op(conn)

        async with self._write_lock:
            self._check()
            # Shielded: a caller that stops waiting must not release the lock while its
            # thread is still writing.
            future = asyncio.ensure_future(self._in_thread(run))
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await future
                raise

    async def close(self) -> None:
        await asyncio.to_thread(self._threads.shutdown)
        self.engine.dispose()


class AsyncConnections:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def read(self, op: Op[T]) -> T:
        async with self.engine.connect() as conn:
            # Autocommit: no BEGIN and ROLLBACK round trips around a read. Nothing is lost: at
            # READ COMMITTED each statement sees its own snapshot inside a transaction too.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await conn.run_sync(op)

    async def write(self, op: Op[T]) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(op)

    async def close(self) -> None:
        pass  # the engine belongs to SQLStore, which disposes of it
