"""The core's own time per addressed turn, with an instant model, at 100 and 1,000,000 stored
messages in the room. Everything but the model call: store the question, read the channel
state and recent history, assemble context, store the answer, deliver it.

    .venv/bin/python -m bench.turn_cost [--big 1000000] [--turns 300] [--postgres URL] [--json]

Prints both medians and their ratio: the goal is a ratio near 1 (the hot path does not grow
with the number of stored messages). The room is measured in its steady state: where the
measured checkout has long memory, its search index is filled and a summary covers all but the
newest messages (a summariser catching up on a million messages is background work, not the
turn's), so a turn pays for what it always pays, recall's search included. As in `chatbot serve`, start-up
objects are frozen out of the garbage collector, and the timed turns follow a few untimed ones
(WARMUP_TURNS: each statement's first use compiles it, once per process). With `--postgres URL` (a server's admin URL) each size gets
a database of its own there, dropped afterwards. `--json` prints the two medians in ms, for
bench/run.py, which runs this in a process of its own with the checkout it measures as cwd.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from bot.context import ModelRequest
from bot.delivery import ReplyMeta
from bot.personas import default_persona
from bot.providers.base import DeltaSink, ModelReply
from bot.service import ChatService
from bot.settings import BotSettings
from bot.types import Author, IncomingMessage, Usage
from memory.store import SQLStore

ROOM = "web:bench"


class InstantModel:
    name = "instant"

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        await on_delta("ok")
        return ModelReply("ok", Usage(10, 1, 11, "instant", "instant"))


class NullTarget:
    max_length = 1_000_000

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, text: str, meta: ReplyMeta) -> None:
        return None


def fill(path: str, rows: int) -> None:
    """Bulk-insert `rows` plain messages into the room with sqlite3 (fast, outside the timing)."""
    conn = sqlite3.connect(path)
    now = datetime.now(UTC).isoformat(sep=" ")
    batch = 50_000
    for start in range(0, rows, batch):
        conn.executemany(
            "INSERT INTO messages (channel, platform, role, author_id, author_name, text,"
            " created_at, flagged) VALUES (?, 'web', 'user', 'u', 'u', ?, ?, 0)",
            ((ROOM, f"message {i}", now) for i in range(start, min(rows, start + batch))),
        )
    conn.commit()
    conn.close()


async def measure(rows: int, turns: int, workdir: str) -> list[float]:
    path = os.path.join(workdir, f"bench-{rows}.db")
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.create_schema()
    await asyncio.to_thread(fill, path, rows)
    await asyncio.to_thread(index_sqlite, path)
    try:
        return await time_turns(store, turns)
    finally:
        await store.close()


def index_sqlite(path: str) -> None:
    """Fill the full-text index of a checkout with long memory (older ones have none; and the
    editable install would find this checkout's memory/search_index.py for them: ask the store)."""
    if not hasattr(SQLStore, "recall"):
        return
    from sqlalchemy import create_engine

    from memory.search_index import fill_index

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        fill_index(conn)
    engine.dispose()


async def index_postgres(url: str) -> None:
    """Fill the index where the checkout has one, then VACUUM ANALYZE: what autovacuum does to
    a table loaded in bulk, and would otherwise do while the turns are timed. A loaded table
    no vacuum has seen yet is no steady state: every index-only read then visits the table
    too (side by side at 1,000,000 messages: 18.6 ms median and p99 30.5, against 13.1 and
    19.0 vacuumed, and 13.1 and 19.0 with 200,000 more not yet vacuumed, as autovacuum
    leaves a table between its runs)."""
    from memory import search_index
    from memory.store import make_engine

    def rebuild(conn: Connection) -> None:
        # Made again, keys last, where the checkout can (a keyed table filled pair by pair
        # takes minutes at a million messages); else filled in place.
        if hasattr(search_index, "build_index"):
            search_index.drop_index(conn)
            search_index.build_index(conn)
        else:
            search_index.fill_index(conn)

    engine = make_engine(url)
    if hasattr(SQLStore, "recall"):
        async with engine.begin() as conn:
            await conn.run_sync(rebuild)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")
    await engine.dispose()


async def steady_summary(store: SQLStore) -> None:
    """A summary of all but the newest 60 messages, where the checkout writes summaries."""
    save = getattr(store, "save_summary", None)
    if save is None:
        return
    from bot.types import Summary

    newest = (await store.recent(ROOM, 1))[-1].id
    await save(
        Summary(
            ROOM,
            "",
            newest - 60,
            newest - 60,
            "- the room so far",
            "bench",
            0,
            0,
            datetime.now(UTC),
        )
    )


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def fill_postgres(
    url: str, rows: int, said: Callable[[int], str] = lambda i: f"message {i}"
) -> None:
    """COPY `rows` messages (the i-th saying `said(i)`) into the room (outside the timing);
    index_postgres then indexes and vacuums them."""
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    now = datetime.now(UTC)
    batch = 100_000
    columns = [
        "channel",
        "platform",
        "role",
        "author_id",
        "author_name",
        "text",
        "created_at",
        "flagged",
    ]
    try:
        for start in range(0, rows, batch):
            await conn.copy_records_to_table(
                "messages",
                records=[
                    (ROOM, "web", "user", "u", "u", said(i), now, False)
                    for i in range(start, min(rows, start + batch))
                ],
                columns=columns,
            )
    finally:
        await conn.close()


async def measure_postgres(base: str, rows: int, turns: int) -> list[float]:
    """As `measure`, in a new database on the server of `base` (dropped afterwards)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    store = SQLStore.from_url(url)
    try:
        await store.create_schema()
        await fill_postgres(url, rows)
        await index_postgres(url)
        return await time_turns(store, turns)
    finally:
        await store.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# Turns answered before the timed ones: the first use of each statement compiles and caches
# it, once per process. The service lives for days; its turns are the ones after these.
WARMUP_TURNS = 10


def as_served() -> None:
    """What `chatbot serve` does once its app is built, before the first chat: start-up
    objects are frozen out of later full collections (chatbot/cli.py). Without it, a full
    collection walking the benchmark's own start-up (35-40 ms here) lands in some turn."""
    from chatbot.cli import freeze_startup_objects

    freeze_startup_objects()


async def time_turns(store: SQLStore, turns: int) -> list[float]:
    """Seconds per addressed turn, one after another, through the real core and `store`."""
    await steady_summary(store)
    settings = BotSettings()
    persona = default_persona(settings)
    provider = InstantModel()
    service = ChatService(store, lambda _: provider, settings, {persona.name: persona})
    asked = [f"@chatbot question {i}" for i in range(WARMUP_TURNS + turns)]
    return await timed(service, asked)


async def timed(service: ChatService, asked: Sequence[str]) -> list[float]:
    """Seconds per addressed turn for each of `asked` after the first WARMUP_TURNS (untimed),
    one after another, as served."""
    as_served()
    target = NullTarget()
    times: list[float] = []
    for i, said in enumerate(asked):
        msg = IncomingMessage("web", ROOM, None, Author("u", "u"), said)
        t0 = time.perf_counter()
        received = await service.receive(msg, target)
        assert received.answer is not None
        await received.answer
        if i >= WARMUP_TURNS:
            times.append(time.perf_counter() - t0)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL instead of SQLite")
    parser.add_argument("--json", action="store_true", help="print the medians (ms) as JSON")
    args = parser.parse_args()
    if args.postgres:
        small = await measure_postgres(args.postgres, args.small, args.turns)
        big = await measure_postgres(args.postgres, args.big, args.turns)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            small = await measure(args.small, args.turns, workdir)
            big = await measure(args.big, args.turns, workdir)
    ms_small = statistics.median(small) * 1000
    ms_big = statistics.median(big) * 1000
    if args.json:
        print(json.dumps({"small_ms": ms_small, "big_ms": ms_big}))
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(f"{'stored messages':>16} | {'median ms/turn':>14} | {'p95 ms/turn':>11}")
    for rows, t in ((args.small, small), (args.big, big)):
        p95 = statistics.quantiles(t, n=20)[-1] * 1000
        print(f"{rows:>16,} | {statistics.median(t) * 1000:>14.2f} | {p95:>11.2f}")
    print(f"ratio (big / small, median): {ms_big / ms_small:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
