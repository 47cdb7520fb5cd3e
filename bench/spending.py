"""Spending limits at 1,000,000 stored answers against 100, in the same run.

    .venv/bin/python -m bench.spending [--big 1000000] [--turns 300] [--postgres URL]

Two databases are filled the way the service would have left them: answers (with tokens and
cost) by 2,000 people in 200 channels over 60 days, and the spending counters those answers
added (memory/spending.py). Then, on each:

- the limit check alone: one read of a turn's counters (`Memory.spent`, four counters, from the
  first of the month), 2,000 times;
- the core's time per addressed turn with three limits on (each person per day, the channel
  per month, the platform per month in USD), instant model, as bench/turn_cost.py;
- the same turns with no limit, for what the check adds;
- at the big size only: what a turn would pay to SUM the asker's answers of the month from the
  messages instead of the counters, and the console's dashboard queries.

Every figure is printed with its ratio big / small; the goal for the check and the turn is a
ratio near 1 (their cost does not grow with the stored answers).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.turn_cost import InstantModel, NullTarget
from bot.personas import default_persona
from bot.service import ChatService
from bot.settings import BotSettings, SpendingSettings
from bot.types import Author, CounterKey, IncomingMessage, Limit
from memory import console_queries
from memory.store import SQLStore

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a UTC time in SQLite
PEOPLE = 2_000
CHANNELS = 200
DAYS = 60
LIMITS = (
    Limit("user", "day", tokens=10**12),
    Limit("channel", "month", tokens=10**12),
    Limit("platform", "month", cost_usd=10.0**9),
)
MESSAGE_COLUMNS = (
    "channel, platform, role, author_id, author_name, tag, text, created_at, input_tokens,"
    " output_tokens, total_tokens, model, provider, flagged, author_is_bot, asker_id,"
    " cost_usd"
)


def answers(n: int, today: date) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        user, channel, back = i % PEOPLE, (i * 7) % CHANNELS, i % DAYS
        at = datetime.combine(today - timedelta(days=back), datetime.min.time(), UTC)
        at += timedelta(seconds=(i * 37) % 86_000)
        tokens = 100 + i % 900
        tag = "dragon" if i % 10 == 0 else "chatbot"
        yield (
            f"web:room{channel}", "web", "assistant", f"bot:{tag}", tag, tag, f"answer {i}",
            at, tokens - 50, 50, tokens, "gpt-4.1", "openai", False, False, f"web:u{user}",
            tokens * 2e-6,
        )  # fmt: skip


def counters(n: int, today: date) -> list[tuple[Any, ...]]:
    """What those answers added to the counters, as the store would have."""
    sums: dict[tuple[str, str, str, date], list[Any]] = defaultdict(lambda: [0, 0.0, 0])
    for row in answers(n, today):
        channel, user, day, tokens, cost, tag = (
            row[0],
            row[15],
            row[7].date(),
            row[10],
            row[16],
            row[5],
        )
        for scope, subject in (("user", user), ("channel", channel), ("platform", "web")):
            for t in ("", tag):
                found = sums[(scope, subject, t, day)]
                found[0] += tokens
                found[1] += cost
                found[2] += 1
    return [(*key, *value) for key, value in sums.items()]


def fill_sqlite(path: str, n: int, today: date) -> None:
    conn = sqlite3.connect(path)
    marks = ", ".join("?" * 17)
    rows = answers(n, today)
    while batch := list(itertools.islice(rows, 50_000)):
        conn.executemany(
            f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({marks})",
            [(*r[:7], r[7].strftime(SQLITE_TIME), *r[8:]) for r in batch],
        )
    conn.executemany(
        "INSERT INTO usage_counts (scope, subject, tag, day, tokens, cost_usd, answers)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*c[:3], c[3].isoformat(), *c[4:]) for c in counters(n, today)],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def fill_postgres(url: str, n: int, today: date) -> None:
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = answers(n, today)
        columns = [c.strip() for c in MESSAGE_COLUMNS.split(",")]
        while batch := list(itertools.islice(rows, 100_000)):
            await conn.copy_records_to_table("messages", records=batch, columns=columns)
        await conn.copy_records_to_table(
            "usage_counts",
            records=counters(n, today),
            columns=["scope", "subject", "tag", "day", "tokens", "cost_usd", "answers"],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def service(store: SQLStore, limits: tuple[Limit, ...]) -> ChatService:
    settings = BotSettings(spending=SpendingSettings(limits=limits))
    persona = default_persona(settings)
    provider = InstantModel()
    return ChatService(store, lambda _: provider, settings, {persona.name: persona})


async def time_checks(store: SQLStore, calls: int, today: date) -> list[float]:
    rng = random.Random(7)
    month = today.replace(day=1)
    times = []
    for _ in range(calls):
        user, channel = rng.randrange(PEOPLE), rng.randrange(CHANNELS)
        keys = [
            CounterKey("user", f"web:u{user}"),
            CounterKey("channel", f"web:room{channel}"),
            CounterKey("platform", "web"),
            CounterKey("user", f"web:u{user}", "chatbot"),
        ]
        t0 = time.perf_counter()
        await store.spent(keys, month)
        times.append(time.perf_counter() - t0)
    return times


async def time_turns(store: SQLStore, limits: tuple[Limit, ...], turns: int) -> list[float]:
    core = service(store, limits)
    target = NullTarget()
    times = []
    for i in range(turns):
        who = f"web:u{i % PEOPLE}"
        msg = IncomingMessage("web", "web:room0", None, Author(who, who), f"@chatbot question {i}")
        t0 = time.perf_counter()
        received = await core.receive(msg, target)
        assert received.answer is not None
        await received.answer
        times.append(time.perf_counter() - t0)
    await core.idle()
    await core.close()
    return times


async def time_sum_over_messages(store: SQLStore, calls: int, today: date) -> list[float]:
    """The alternative the counters avoid: the asker's month summed from the messages."""
    month: Any = datetime.combine(today.replace(day=1), datetime.min.time(), UTC)
    if store.engine.dialect.name == "sqlite":
        month = month.strftime(SQLITE_TIME)
    query = text(
        "SELECT COALESCE(SUM(total_tokens), 0) FROM messages"
        " WHERE role = 'assistant' AND asker_id = :u AND created_at >= :since"
    )
    times = []
    for i in range(calls):
        params = {"u": f"web:u{i}", "since": month}

        def total(conn: Any, params: dict[str, Any] = params) -> Any:
            return conn.execute(query, params).scalar()

        t0 = time.perf_counter()
        await store.read(total)
        times.append(time.perf_counter() - t0)
    return times


async def time_console(store: SQLStore) -> float:
    now = datetime.now(UTC)

    def dashboard(conn: Any) -> None:
        console_queries.channel_table(conn, now)
        console_queries.daily_usage(conn, now)
        console_queries.failures(conn, now)
        console_queries.top_people(conn, now)

    t0 = time.perf_counter()
    await store.read(dashboard)
    return time.perf_counter() - t0


async def measure(url: str, n: int, turns: int, big: bool, fill: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    store = SQLStore.from_url(url)
    await store.create_schema()
    await fill(n, today)
    try:
        found: dict[str, Any] = {"check": await time_checks(store, 2_000, today)}
        found["turn"] = await time_turns(store, LIMITS, turns)
        found["bare"] = await time_turns(store, (), turns)
        if big:
            found["sum"] = await time_sum_over_messages(store, 20, today)
            found["console"] = await time_console(store)
        return found
    finally:
        await store.close()


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def run(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    rows = []
    engines: list[str] = ["SQLite"] + (["PostgreSQL"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as workdir:
        for engine in engines:
            results = []
            for n, big in ((args.small, False), (args.big, True)):
                if engine == "SQLite":
                    path = os.path.join(workdir, f"spending-{n}.db")
                    url = f"sqlite+aiosqlite:///{path}"

                    async def fill(count: int, today: date, path: str = path) -> None:
                        await asyncio.to_thread(fill_sqlite, path, count, today)

                    results.append(await measure(url, n, args.turns, big, fill))
                else:
                    results.append(await on_postgres(args.postgres, n, args.turns, big))
            small, large = results
            label = f"{args.big:,} vs {args.small} stored answers"
            for key, what in (
                ("check", "limit check (one read of 4 counters)"),
                ("turn", "core time per turn, 3 limits on"),
                ("bare", "core time per turn, no limit"),
            ):
                a, b = ms(small[key]), ms(large[key])
                rows.append(
                    (f"{what}, {engine}, {label}", f"{b:.3f} ms", f"{a:.3f} ms", f"{b / a:.2f}x")
                )
            added = ms(large["turn"]) - ms(large["bare"])
            rows.append(
                (
                    f"what the limits add to a turn, {engine}, {args.big:,}",
                    f"{added:+.3f} ms",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    f"instead: SUM of the asker's month from the messages, {engine}, {args.big:,}",
                    f"{ms(large['sum']):.1f} ms",
                    f"{ms(large['check']):.3f} ms (the counters)",
                    f"{ms(large['sum']) / ms(large['check']):.0f}x",
                )
            )
            rows.append(
                (
                    f"console dashboard queries, {engine}, {args.big:,}",
                    f"{large['console']:.2f} s",
                    "",
                    "",
                )
            )
    return rows


async def on_postgres(base: str, n: int, turns: int, big: bool) -> dict[str, Any]:
    import asyncpg

    dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:

        async def fill(count: int, today: date) -> None:
            await fill_postgres(url, count, today)

        return await measure(url, n, turns, big, fill)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("CHATBOT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    rows = await run(args)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}} | {'big':>12} | {'small (same run)':>26} | ratio")
    for what, ours, baseline, ratio in rows:
        print(f"{what:{width}} | {ours:>12} | {baseline:>26} | {ratio}")


if __name__ == "__main__":
    asyncio.run(main())
