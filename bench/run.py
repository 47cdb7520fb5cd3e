"""All the benchmarks, one table: `python -m bench` (or `python -m bench.run --quick`).

Every figure is a ratio against a baseline measured in the same run, with the absolute numbers
and the machine. Servers run as real `chatbot serve` subprocesses on 127.0.0.1; the model is the
loopback stub from testing/stubs; PostgreSQL and Redis are started with scripts/ci/*.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.turn_cost import ROOM, time_turns
from bench.turn_cost import measure as turn_cost_sqlite
from bench.wsraw import RawWS, stalled_socket
from memory.store import SQLStore
from testing.servers import free_port
from testing.stubs.model_server import ModelServer, Reply

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    what: str
    ours: str
    baseline: str
    ratio: str
    note: str = ""


class Proc:
    """A server subprocess that is ready when its /healthz answers."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path):
        self.port = free_port()
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    async def ready(self) -> Proc:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self._log.name}")
                try:
                    await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                    return self
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        raise RuntimeError("server not ready")

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def serve_args() -> list[str]:
    return ["-m", "chatbot.cli", "--log-level", "WARNING", "serve"]


# -- fan-out -------------------------------------------------------------------------------


async def fanout(
    port: int, clients: int, messages: int, *, stalled: bool, size: int, limit: float
) -> tuple[float, int, int]:
    """Deliveries per second to `clients` readers in one room; returns (rate, delivered)."""
    socks = [await RawWS.connect(port, f"/ws/u{i}?room=bench") for i in range(clients)]
    stall = stalled_socket(port, "/ws/sloth?room=bench") if stalled else None
    await asyncio.sleep(0.5)
    per = messages // clients
    text = "x" * size
    t0 = time.perf_counter()
    readers = [asyncio.create_task(s.count(per * clients)) for s in socks]
    for n in range(per):  # every client sends `per` messages: within the flood guard's burst
        await asyncio.gather(*(s.say(f"{n} {text}") for s in socks))
    done, pending = await asyncio.wait(readers, timeout=limit)
    for task in pending:
        task.cancel()
    delivered = sum(s.frames for s in socks)
    dropped = sum(s.closed_by_server for s in socks)
    end = max((s.last for s in socks if s.last), default=t0 + limit)
    for s in socks:
        s.close()
    if stall is not None:
        stall.close()
    return delivered / max(end - t0, 1e-6), delivered, dropped


async def bench_fanout(tmp: Path, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    total = args.clients * (args.messages // args.clients) * args.clients
    results: dict[tuple[str, bool], tuple[float, int, int]] = {}
    for name in ("baseline", "ours"):
        for stalled in (False, True):
            if name == "ours":
                db = f"sqlite+aiosqlite:///{tmp / f'fanout-{uuid.uuid4().hex[:6]}.db'}"
                proc = Proc(serve_args(), {"CHATBOT_DATABASE_URL": db}, tmp / "ours.log")
            else:
                proc = Proc(["-m", "bench.baseline_server"], {}, tmp / "baseline.log")
            await proc.ready()
            results[(name, stalled)] = await fanout(
                proc.port,
                args.clients,
                args.messages,
                stalled=stalled,
                size=args.size,
                limit=args.limit,
            )
            await proc.stop()

    def cell(key: tuple[str, bool]) -> str:
        rate, delivered, dropped = results[key]
        got = "" if delivered == total else f" ({delivered:,}/{total:,} delivered in the limit)"
        gone = f", {dropped} readers closed by the server" if dropped else ""
        return f"{rate:,.0f} msg/s{got}{gone}"

    for stalled in (False, True):
        ours, base = results[("ours", stalled)][0], results[("baseline", stalled)][0]
        rows.append(
            Row(
                f"fan-out {args.clients} clients, {args.messages:,} messages"
                + (", 1 client never reads" if stalled else ""),
                cell(("ours", stalled)),
                cell(("baseline", stalled)),
                f"{ours / base:.2f}x",
                "baseline: course server, `for ws in conns: await ws.send_json(data)`, no DB",
            )
        )
    return rows


# -- turns ---------------------------------------------------------------------------------


async def provider_alone(model_url: str, n: int, processes: int, warm: bool) -> float:
    """`n` model calls through the OpenAI provider alone (the SDK and our event reader), split
    over `processes` processes of their own (bench/sdk_floor.py) started together: the slowest
    process's wall time."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sdk_floor",
            model_url,
            str(n // processes),
            *(["--warm"] if warm else []),
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    outs = await asyncio.gather(*(p.communicate() for p in procs))
    return max(float(out.decode().strip()) for out, _ in outs)


async def bench_turns(tmp: Path, args: argparse.Namespace) -> list[Row]:
    model = await ModelServer().start()
    delay = {"d": 1.0}

    def respond(body: dict[str, Any]) -> Reply:
        last = body["messages"][-1]["content"]
        return Reply(f"re: {last}", delay=delay["d"])

    model.default = respond
    base_env = {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": model.url,
        "CHATBOT_TIMEOUT": "30",
    }
    rows: list[Row] = []

    async def turns_in_rooms(proc: Proc, n: int) -> float:
        socks = [
            await RawWS.connect(proc.port, f"/ws/u{i}?room=r{uuid.uuid4().hex[:8]}")
            for i in range(n)
        ]
        t0 = time.perf_counter()
        await asyncio.gather(*(s.say("@chatbot how are you?") for s in socks))
        await asyncio.wait_for(asyncio.gather(*(s.count(2) for s in socks)), 60)
        wall = max(s.last for s in socks) - t0
        for s in socks:
            s.close()
        return wall

    try:
        # A cold burst opens a new connection to the model for nearly every call; a warm one
        # finds them pooled from the burst before (a busy server's usual state).
        sdk = {
            (p, warm): await provider_alone(model.url, args.rooms, p, warm)
            for p in (1, 2)
            for warm in (False, True)
        }
        for workers in ("0", "2"):
            db = f"sqlite+aiosqlite:///{tmp / f'turns-{workers}.db'}"
            env = {**base_env, "CHATBOT_DATABASE_URL": db, "CHATBOT_MODEL_WORKERS": workers}
            proc = await Proc(serve_args(), env, tmp / f"turns-{workers}.log").ready()
            try:
                delay["d"] = 1.0
                await turns_in_rooms(proc, 1)  # warm up: first connection to the model, first query
                one = await turns_in_rooms(proc, 1)
                cold = await turns_in_rooms(proc, args.rooms)
                warm = statistics.median([await turns_in_rooms(proc, args.rooms) for _ in range(3)])
                procs = 1 if workers == "0" else int(workers)
                mode = "one process" if workers == "0" else f"CHATBOT_MODEL_WORKERS={workers}"
                rows.append(
                    Row(
                        f"{args.rooms} addressed turns at once in {args.rooms} rooms, model takes 1 s ({mode})",
                        f"{cold:.2f} s cold, {warm:.2f} s warm",
                        f"1 turn: {one:.2f} s; provider alone in {procs} process(es): "
                        f"{sdk[(procs, False)]:.2f} s cold, {sdk[(procs, True)]:.2f} s warm",
                        f"{cold / one:.2f}x / {warm / one:.2f}x of 1 turn; "
                        f"{cold / sdk[(procs, False)]:.2f}x / {warm / sdk[(procs, True)]:.2f}x of provider alone",
                        "goal: under 1.3 s; warm = median of 3 bursts on pooled model connections",
                    )
                )
                if workers == "0":
                    rows.append(
                        await twenty_in_one_room(proc, lambda p=proc: turns_in_rooms(p, 1), delay)
                    )
            finally:
                await proc.stop()
    finally:
        await model.stop()
    return rows


async def twenty_in_one_room(
    proc: Proc, one_turn: Callable[[], Awaitable[float]], delay: dict[str, float]
) -> Row:
    """20 turns in one room: answered one after another, in the order asked."""
    from testing.chat_client import Client

    delay["d"] = 0.1
    one = await one_turn()
    room = f"order{uuid.uuid4().hex[:6]}"
    askers = [
        await Client.connect(f"ws://127.0.0.1:{proc.port}/ws/a{i}?room={room}") for i in range(4)
    ]
    listener = await Client.connect(f"ws://127.0.0.1:{proc.port}/ws/listener?room={room}")
    t0 = time.perf_counter()
    asked: list[str] = []
    for k in range(20):
        c = askers[k % 4]
        await c.say(f"@chatbot question {k}")
        asked.append(f"question {k}")
        await c.until(lambda f, k=k: f["message"].endswith(f"question {k}"))
    answers: list[str] = []
    while len(answers) < 20:
        f = await listener.until(lambda f: f["nickname"] == "chatbot", timeout=30)
        answers.append(f["message"])
    wall = time.perf_counter() - t0
    for c in [*askers, listener]:
        await c.close()
    in_order = [a.rsplit(" ", 2)[-2:] for a in answers] == [q.split() for q in asked]
    return Row(
        "20 turns in one room, model takes 0.1 s",
        f"{wall:.2f} s, {'in order' if in_order else 'OUT OF ORDER'}",
        f"20 x {one:.2f} s = {20 * one:.2f} s",
        f"{wall / (20 * one):.2f}x",
        "one room's answers are serialised by its lock",
    )


# -- the core's own time per turn ----------------------------------------------------------


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def fill_postgres(url: str, rows: int) -> None:
    conn = await asyncpg.connect(_dsn(url))
    now = datetime.now(UTC)
    batch = 100_000
    for start in range(0, rows, batch):
        await conn.copy_records_to_table(
            "messages",
            records=[
                (ROOM, "web", "user", "u", "u", f"message {i}", now, False)
                for i in range(start, min(rows, start + batch))
            ],
            columns=[
                "channel",
                "platform",
                "role",
                "author_id",
                "author_name",
                "text",
                "created_at",
                "flagged",
            ],
        )
    await conn.execute("ANALYZE messages")
    await conn.close()


async def turn_cost_postgres(base: str, rows: int, turns: int) -> list[float]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    store = SQLStore.from_url(url)
    try:
        await store.create_schema()
        await fill_postgres(url, rows)
        return await time_turns(store, turns)
    finally:
        await store.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def bench_turn_cost(tmp: Path, args: argparse.Namespace, pg: str) -> list[Row]:
    rows: list[Row] = []
    small, big = 100, args.big
    for engine in ("SQLite", "PostgreSQL"):
        if engine == "SQLite":
            a = await turn_cost_sqlite(small, args.turns, str(tmp))
            b = await turn_cost_sqlite(big, args.turns, str(tmp))
        else:
            a = await turn_cost_postgres(pg, small, args.turns)
            b = await turn_cost_postgres(pg, big, args.turns)
        ma, mb = statistics.median(a) * 1000, statistics.median(b) * 1000
        rows.append(
            Row(
                f"core time per turn, {engine}, {big:,} vs {small} stored",
                f"{mb:.2f} ms median",
                f"{ma:.2f} ms median",
                f"{mb / ma:.2f}x",
                f"instant model, {args.turns} turns each; goal: near 1",
            )
        )
    return rows


async def bench_limits(args: argparse.Namespace, pg: str) -> list[Row]:
    """Spending limits at `args.big` stored answers against 100 (bench/spending.py)."""
    from bench.spending import run as spending

    found = await spending(
        argparse.Namespace(small=100, big=args.big, turns=args.turns, postgres=pg)
    )
    return [Row(what, ours, baseline, ratio) for what, ours, baseline, ratio in found]


# -- Redis ---------------------------------------------------------------------------------


async def bench_redis(tmp: Path, args: argparse.Namespace, pg: str, redis_bin: str) -> list[Row]:
    rport = free_port()
    redis = _spawn(redis_bin, "--port", str(rport), "--bind", "127.0.0.1", "--save", "")
    await asyncio.sleep(0.5)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(pg))
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = make_url(pg).set(database=name).render_as_string(hide_password=False)
    results: dict[int, float] = {}
    try:
        for nproc in (1, 2):
            env = {"CHATBOT_DATABASE_URL": db}
            if nproc == 2:
                env["CHATBOT_REDIS_URL"] = f"redis://127.0.0.1:{rport}/0"
            procs = []
            for i in range(nproc):
                procs.append(await Proc(serve_args(), env, tmp / f"redis{nproc}-{i}.log").ready())
            n, per = args.redis_clients, 10
            socks = [
                await RawWS.connect(procs[i % nproc].port, f"/ws/u{i}?room=rr{nproc}")
                for i in range(n)
            ]
            await asyncio.sleep(0.5)
            t0 = time.perf_counter()
            readers = [asyncio.create_task(s.count(n * per)) for s in socks]
            for k in range(per):
                await asyncio.gather(*(s.say(f"{k} hello") for s in socks))
            await asyncio.wait(readers, timeout=args.limit)
            end = max(s.last for s in socks)
            delivered = sum(s.frames for s in socks)
            results[nproc] = delivered / (end - t0)
            for s in socks:
                s.close()
            for p in procs:
                await p.stop()
    finally:
        redis.terminate()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return [
        Row(
            f"{args.redis_clients} clients, {args.redis_clients * 10:,} messages, one room",
            f"{results[2]:,.0f} msg/s (2 processes + Redis)",
            f"{results[1]:,.0f} msg/s (1 process)",
            f"{results[2] / results[1]:.2f}x",
            "PostgreSQL; clients split evenly between the processes",
        )
    ]


# -- infrastructure ------------------------------------------------------------------------


def _spawn(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


def _exports(script: str, *argv: str) -> dict[str, str]:
    """Run one of scripts/ci/*.sh and read the `export K=V` lines it prints."""
    out = subprocess.run(
        [str(ROOT / script), *argv], capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            found[key] = shlex.split(value)[0]
    return found


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | chatbot | baseline (same run) | ratio | note |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [f"| {r.what} | {r.ours} | {r.baseline} | {r.ratio} | {r.note} |" for r in rows]
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument("--only", default="fanout,turns,cost,limits,redis,pictures")
    args = p.parse_args(argv)
    quick = args.quick
    args.clients = 50 if quick else 200
    args.messages = 500 if quick else 2000
    args.size = 1000
    args.limit = 30.0 if quick else 120.0
    args.rooms = 100
    args.big = 10_000 if quick else 1_000_000
    args.turns = 50 if quick else 300
    args.redis_clients = 40 if quick else 100
    only = set(args.only.split(","))

    env = os.environ
    pg_dir = None
    pg = env.get("CHATBOT_TEST_POSTGRES_URL")
    if not pg and only & {"cost", "limits", "redis"}:
        found = _exports("scripts/ci/start-postgres.sh")
        pg, pg_dir = found["CHATBOT_TEST_POSTGRES_URL"], found["CHATBOT_TEST_POSTGRES_DIR"]
    redis_bin = env.get("CHATBOT_TEST_REDIS_SERVER")
    if not redis_bin and "redis" in only:
        redis_bin = _exports("scripts/ci/start-redis.sh")["CHATBOT_TEST_REDIS_SERVER"]

    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            print("running: " + ", ".join(sorted(only)), file=sys.stderr)
            if "fanout" in only:
                rows += await bench_fanout(tmp, args)
            if "turns" in only:
                rows += await bench_turns(tmp, args)
            if "cost" in only:
                assert pg is not None
                rows += await bench_turn_cost(tmp, args, pg)
            if "limits" in only:
                assert pg is not None
                rows += await bench_limits(args, pg)
            if "redis" in only:
                assert pg is not None and redis_bin is not None
                rows += await bench_redis(tmp, args, pg, redis_bin)
            if "pictures" in only:
                from bench.pictures import bench_pictures

                rows += await bench_pictures(tmp, quick)
    finally:
        if pg_dir:
            _exports("scripts/ci/stop-postgres.sh", pg_dir)
    print(f"machine: {machine()}" + (" (--quick sizes)" if quick else ""))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
