"""All the benchmarks, one table: `python -m bench` (or `python -m bench.run --quick`).

Every figure is a ratio against a baseline measured in the same run, with the absolute numbers
and the machine. Servers run as real `chatbot serve` subprocesses on 127.0.0.1; the model is the
loopback stub from testing/stubs; PostgreSQL and Redis are started with scripts/ci/*.

`--root PATH` measures another checkout's code (bench/procs.py: every server and every in-process
measurement runs with PATH as cwd and PYTHONPATH); `--compare PATH` measures PATH ("before") and
the root ("after") back to back in one run and prints one table with a column for each.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.cold_start import SDKS, one_start
from bench.procs import ROOT, Checkout, Proc, clean_env, run_script, serve_argv
from bench.wsraw import RawWS, stalled_socket
from testing.servers import free_port
from testing.stubs.model_server import ModelServer, Reply


@dataclass
class Result:
    """One checkout's figure: its cell, the baseline's, their ratio, and `key`: the numbers a
    before/after comparison divides (after / before)."""

    value: str
    baseline: str
    ratio: str
    key: tuple[float, ...]


@dataclass
class Figure:
    what: str
    note: str
    better: str  # how to read after / before of `key`, e.g. "higher is better"
    results: dict[str, Result] = field(default_factory=dict)  # by Checkout.label


@dataclass
class Row:
    """A figure of the measuring checkout alone (bench/spending.py, bench/pictures.py): these
    run in this process with this checkout's code, so `--compare` shows them for "after" only."""

    what: str
    ours: str
    baseline: str
    ratio: str
    note: str = ""


def current(rows: list[Row], checkouts: list[Checkout]) -> list[Figure]:
    label = checkouts[-1].label
    return [
        Figure(r.what, r.note, "", {label: Result(r.ours, r.baseline, r.ratio, ())}) for r in rows
    ]


def _median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


# -- fan-out -------------------------------------------------------------------------------


async def fanout(
    port: int, clients: int, messages: int, *, stalled: bool, size: int, limit: float
) -> tuple[float, int, int]:
    """Deliveries per second to `clients` readers in one room: (rate, delivered, dropped)."""
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


def _fanout_cell(runs: list[tuple[float, int, int]], total: int) -> tuple[float, str]:
    rate = _median([r[0] for r in runs])
    short = min(r[1] for r in runs)
    dropped = max(r[2] for r in runs)
    got = "" if short == total else f" ({short:,}/{total:,} delivered in the limit)"
    gone = f", {dropped} readers closed by the server" if dropped else ""
    return rate, f"{rate:,.0f} msg/s{got}{gone}"


async def bench_fanout(
    tmp: Path, args: argparse.Namespace, checkouts: list[Checkout]
) -> list[Figure]:
    total = args.clients * (args.messages // args.clients) * args.clients
    figures: list[Figure] = []
    for stalled in (False, True):
        runs: dict[str, list[tuple[float, int, int]]] = {}
        # Rounds of baseline, then each checkout: a slow minute of the machine hits them all.
        for _ in range(args.rounds):
            for who in ("baseline", *(c.label for c in checkouts)):
                if who == "baseline":
                    proc = Proc(["-m", "bench.baseline_server"], {}, tmp / "baseline.log")
                else:
                    checkout = next(c for c in checkouts if c.label == who)
                    db = f"sqlite+aiosqlite:///{tmp / f'fanout-{uuid.uuid4().hex[:6]}.db'}"
                    proc = Proc(
                        serve_argv(), {"CHATBOT_DATABASE_URL": db}, tmp / f"{who}.log", checkout
                    )
                await proc.ready()
                try:
                    runs.setdefault(who, []).append(
                        await fanout(
                            proc.port,
                            args.clients,
                            args.messages,
                            stalled=stalled,
                            size=args.size,
                            limit=args.limit,
                        )
                    )
                finally:
                    await proc.stop()

        base, base_cell = _fanout_cell(runs["baseline"], total)
        figure = Figure(
            f"fan-out {args.clients} clients, {args.messages:,} messages"
            + (", 1 client never reads" if stalled else ""),
            "baseline: course server, `for ws in conns: await ws.send_json(data)`, no DB"
            if not stalled
            else "same baseline",
            "higher is better",
        )
        for c in checkouts:
            rate, text = _fanout_cell(runs[c.label], total)
            figure.results[c.label] = Result(text, base_cell, f"{rate / base:.2f}x", (rate / base,))
        figures.append(figure)
    if args.rounds > 1:
        figures[0].note += f"; median of {args.rounds} rounds"
    return figures


# -- turns ---------------------------------------------------------------------------------


async def sdk_floor(checkout: Checkout, model_url: str, n: int, warm: bool) -> float:
    """`n` model calls at once through the OpenAI provider alone (bench/sdk_floor.py), in a
    process of its own with `checkout`'s code: wall seconds."""
    out = await run_script(
        checkout, "sdk_floor.py", model_url, str(n), *(["--warm"] if warm else [])
    )
    return float(out.strip())


async def turns_in_rooms(proc: Proc, model: ModelServer, n: int) -> float:
    """`n` clients in rooms of their own ask at once; seconds until the last answer arrived.
    Every turn must have reached the model (a refusal also answers, at once)."""
    asked = len(model.chat_requests())
    socks = [
        await RawWS.connect(proc.port, f"/ws/u{i}?room=r{uuid.uuid4().hex[:8]}") for i in range(n)
    ]
    t0 = time.perf_counter()
    await asyncio.gather(*(s.say("@chatbot how are you?") for s in socks))
    await asyncio.wait_for(asyncio.gather(*(s.count(2) for s in socks)), 60)
    wall = max(s.last for s in socks) - t0
    for s in socks:
        s.close()
    if (calls := len(model.chat_requests()) - asked) != n:
        raise RuntimeError(f"{n} turns asked, {calls} reached the model")
    return wall


async def bench_turns(
    tmp: Path, args: argparse.Namespace, checkouts: list[Checkout]
) -> list[Figure]:
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
        # All the turns come from 127.0.0.1: the per-address turn limit (30 at once) is off.
        "CHATBOT_WEB_TURNS_PER_MINUTE": "0",
    }
    burst = Figure(
        f"{args.rooms} addressed turns at once in {args.rooms} rooms, model takes 1 s",
        "baseline: the floor, bench/sdk_floor.py (the same calls through `OpenAIChatProvider`, "
        "nothing else); warm = median of 3 bursts on pooled model connections",
        "lower is better",
    )
    order = Figure(
        "20 turns in one room, model takes 0.1 s",
        "one room's answers are serialised by its lock",
        "lower is better",
    )
    try:
        for c in checkouts:
            # A cold burst opens a new connection to the model for nearly every call; a warm one
            # finds them pooled from the burst before (a busy server's usual state).
            delay["d"] = 1.0
            floor_cold = await sdk_floor(c, model.url, args.rooms, False)
            floor_warm = await sdk_floor(c, model.url, args.rooms, True)
            db = f"sqlite+aiosqlite:///{tmp / f'turns-{c.label}.db'}"
            env = {**base_env, "CHATBOT_DATABASE_URL": db}
            proc = await Proc(serve_argv(), env, tmp / f"turns-{c.label}.log", c).ready()
            try:
                await turns_in_rooms(
                    proc, model, 1
                )  # warm up: first connection to the model, first query
                one = await turns_in_rooms(proc, model, 1)
                cold = await turns_in_rooms(proc, model, args.rooms)
                warm = _median([await turns_in_rooms(proc, model, args.rooms) for _ in range(3)])
                burst.results[c.label] = Result(
                    f"{cold:.2f} s cold, {warm:.2f} s warm (1 turn: {one:.2f} s)",
                    f"provider alone: {floor_cold:.2f} s cold, {floor_warm:.2f} s warm",
                    f"{cold / floor_cold:.2f}x / {warm / floor_warm:.2f}x",
                    (cold / floor_cold, warm / floor_warm),
                )
                order.results[c.label] = await twenty_in_one_room(
                    proc, functools.partial(turns_in_rooms, proc, model, 1), delay
                )
            finally:
                await proc.stop()
    finally:
        await model.stop()
    return [burst, order]


def _echoes(text: str, frame: dict[str, Any]) -> bool:
    return str(frame["message"]).endswith(text)


async def twenty_in_one_room(
    proc: Proc, one_turn: Callable[[], Awaitable[float]], delay: dict[str, float]
) -> Result:
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
        await c.until(functools.partial(_echoes, f"question {k}"))
    answers: list[str] = []
    while len(answers) < 20:
        f = await listener.until(lambda f: f["nickname"] == "chatbot", timeout=30)
        answers.append(f["message"])
    wall = time.perf_counter() - t0
    for c in [*askers, listener]:
        await c.close()
    in_order = [a.rsplit(" ", 2)[-2:] for a in answers] == [q.split() for q in asked]
    return Result(
        f"{wall:.2f} s, {'in order' if in_order else 'OUT OF ORDER'}",
        f"20 x {one:.2f} s = {20 * one:.2f} s",
        f"{wall / (20 * one):.2f}x",
        (wall / (20 * one),),
    )


# -- the core's own time per turn ----------------------------------------------------------


async def bench_turn_cost(
    tmp: Path, args: argparse.Namespace, pg: str, checkouts: list[Checkout]
) -> list[Figure]:
    """bench/turn_cost.py in a process of its own per checkout and engine."""
    figures: list[Figure] = []
    small, big = 100, args.big
    for engine in ("SQLite", "PostgreSQL"):
        figure = Figure(
            f"core time per turn, {engine}, {big:,} vs {small} stored",
            f"instant model, {args.turns} turns each; goal: near 1"
            if engine == "SQLite"
            else "same",
            f"ms at {small} / at {big:,} stored; lower is better",
        )
        for c in checkouts:
            extra = ["--postgres", pg] if engine == "PostgreSQL" else []
            out = await run_script(
                c,
                "turn_cost.py",
                "--small",
                str(small),
                "--big",
                str(big),
                "--turns",
                str(args.turns),
                "--json",
                *extra,
            )
            ms = json.loads(out)
            a, b = ms["small_ms"], ms["big_ms"]
            figure.results[c.label] = Result(
                f"{b:.2f} ms median", f"{a:.2f} ms median", f"{b / a:.2f}x", (a, b)
            )
        figures.append(figure)
    return figures


async def bench_limits(args: argparse.Namespace, pg: str) -> list[Row]:
    """Spending limits at `args.big` stored answers against 100 (bench/spending.py)."""
    from bench.spending import run as spending

    found = await spending(
        argparse.Namespace(small=100, big=args.big, turns=args.turns, postgres=pg)
    )
    return [Row(what, ours, baseline, ratio) for what, ours, baseline, ratio in found]


# -- Redis ---------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def redis_rate(
    tmp: Path, args: argparse.Namespace, db: str, redis_url: str, c: Checkout, nproc: int
) -> float:
    env = {"CHATBOT_DATABASE_URL": db}
    if nproc == 2:
        env["CHATBOT_REDIS_URL"] = redis_url
    procs = []
    try:
        for i in range(nproc):
            log = tmp / f"redis-{c.label}-{nproc}-{i}.log"
            procs.append(await Proc(serve_argv(), env, log, c).ready())
        n, per = args.redis_clients, 10
        room = f"rr{uuid.uuid4().hex[:6]}"
        socks = [
            await RawWS.connect(procs[i % nproc].port, f"/ws/u{i}?room={room}") for i in range(n)
        ]
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        readers = [asyncio.create_task(s.count(n * per)) for s in socks]
        for k in range(per):
            await asyncio.gather(*(s.say(f"{k} hello") for s in socks))
        await asyncio.wait(readers, timeout=args.limit)
        end = max(s.last for s in socks)
        delivered = sum(s.frames for s in socks)
        for s in socks:
            s.close()
        return delivered / (end - t0)
    finally:
        for p in procs:
            await p.stop()


async def bench_redis(
    tmp: Path, args: argparse.Namespace, pg: str, redis_bin: str, checkouts: list[Checkout]
) -> list[Figure]:
    rport = free_port()
    redis = _spawn(redis_bin, "--port", str(rport), "--bind", "127.0.0.1", "--save", "")
    await asyncio.sleep(0.5)
    admin = await asyncpg.connect(_dsn(pg))
    figure = Figure(
        f"{args.redis_clients} clients, {args.redis_clients * 10:,} messages, one room",
        "PostgreSQL; clients split evenly between the processes",
        "higher is better",
    )
    try:
        for c in checkouts:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            db = make_url(pg).set(database=name).render_as_string(hide_password=False)
            try:
                url = f"redis://127.0.0.1:{rport}/0"
                one = await redis_rate(tmp, args, db, url, c, 1)
                two = await redis_rate(tmp, args, db, url, c, 2)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            figure.results[c.label] = Result(
                f"{two:,.0f} msg/s (2 processes + Redis)",
                f"{one:,.0f} msg/s (1 process)",
                f"{two / one:.2f}x",
                (two / one,),
            )
    finally:
        redis.terminate()
        await admin.close()
    return [figure]


# -- cold start and idle memory ------------------------------------------------------------


async def bench_cold_start(
    tmp: Path, args: argparse.Namespace, checkouts: list[Checkout]
) -> list[Figure]:
    """`chatbot serve` (SQLite, web chat, OpenAI against the stub, nothing else) and the bare
    FastAPI app, started in turn: one unmeasured start each (bytecode cached, SQLite file
    created), then `args.starts` rounds."""
    model = await ModelServer().start()
    subjects: list[tuple[str, list[str], dict[str, str], Path]] = [
        ("baseline", ["-m", "bench.baseline_server"], clean_env(), ROOT)
    ]
    settings = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": model.url}
    for c in checkouts:
        db = {"CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'start-{c.label}.db'}"}
        subjects.append((c.label, serve_argv(), c.env({**settings, **db}), c.root))
    seconds: dict[str, list[float]] = {}
    rss: dict[str, list[int]] = {}
    imported: dict[str, dict[str, Any]] = {}
    try:
        for c in checkouts:
            db = {"CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'probe-{c.label}.db'}"}
            out = await run_script(c, "cold_start.py", env={**settings, **db})
            imported[c.label] = json.loads(out.strip().splitlines()[-1])
        for round_ in range(args.starts + 1):
            for who, argv, env, cwd in subjects:
                t, kib = await one_start(argv, env, cwd, free_port(), tmp / f"start-{who}.log")
                if round_:  # round 0 warms up
                    seconds.setdefault(who, []).append(t)
                    rss.setdefault(who, []).append(kib)
    finally:
        await model.stop()
    base_s, base_kib = _median(seconds["baseline"]), int(_median(rss["baseline"]))
    start = Figure(
        "cold start: spawn to first `/healthz` 200",
        f"SQLite, web chat, OpenAI provider; baseline: bare FastAPI app with `/healthz` under "
        f"uvicorn; median of {args.starts} starts each",
        "lower is better",
    )
    memory = Figure(
        "idle memory: VmRSS 1 s after the first 200",
        f"which of {', '.join(SDKS)} are imported once started (bench/cold_start.py): "
        + "; ".join(
            (f"{label}: " if len(imported) > 1 else "")
            + f"{', '.join(i['started']) or 'none'} ({i['modules']:,} modules in all)"
            for label, i in imported.items()
        ),
        "lower is better",
    )
    for c in checkouts:
        s, kib = _median(seconds[c.label]), int(_median(rss[c.label]))
        start.results[c.label] = Result(
            f"{s:.2f} s", f"{base_s:.2f} s", f"{s / base_s:.2f}x", (s / base_s,)
        )
        memory.results[c.label] = Result(
            f"{kib / 1024:.0f} MiB",
            f"{base_kib / 1024:.0f} MiB",
            f"{kib / base_kib:.2f}x",
            (kib / base_kib,),
        )
    return [start, memory]


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


async def _pg_version(pg: str) -> str:
    conn = await asyncpg.connect(_dsn(pg))
    try:
        return str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


def machine(pg_version: str | None) -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
        + (f", PostgreSQL {pg_version}" if pg_version else "")
    )


def table(figures: list[Figure], checkouts: list[Checkout]) -> str:
    if len(checkouts) == 1:
        label = checkouts[0].label
        lines = [
            "| benchmark | chatbot | baseline (same run) | ratio | note |",
            "|---|---:|---:|---:|---|",
        ]
        for f in figures:
            r = f.results[label]
            lines.append(f"| {f.what} | {r.value} | {r.baseline} | {r.ratio} | {f.note} |")
        return "\n".join(lines)
    before, after = checkouts
    lines = [
        f"| benchmark | before `{before.commit}` | after `{after.commit}` | after ÷ before | note |",
        "|---|---:|---:|---:|---|",
    ]
    for f in figures:
        if before.label not in f.results:  # measured in this process: this checkout only
            r = f.results[after.label]
            cell = f"**{r.ratio}**: {r.value} vs {r.baseline}"
            lines.append(f"| {f.what} | not measured | {cell} | | {f.note} |")
            continue
        b, a = f.results[before.label], f.results[after.label]
        change = " / ".join(f"{x / y:.2f}" for x, y in zip(a.key, b.key, strict=True))
        cells = [f"**{r.ratio}**: {r.value} vs {r.baseline}" for r in (b, a)]
        lines.append(f"| {f.what} | {cells[0]} | {cells[1]} | {change} ({f.better}) | {f.note} |")
    return "\n".join(lines)


PARTS = ("fanout", "turns", "cost", "limits", "redis", "start", "pictures")


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument("--only", default=",".join(PARTS), help=f"some of {','.join(PARTS)}")
    p.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the checkout whose code is measured (default: this one)",
    )
    p.add_argument(
        "--compare",
        type=Path,
        metavar="PATH",
        help="also measure the checkout at PATH ('before'; --root is 'after'), one table",
    )
    p.add_argument("--rounds", type=int, default=None, help="fan-out rounds (median; default 1)")
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
    args.starts = 2 if quick else 5
    args.rounds = args.rounds or 1
    only = set(args.only.split(","))
    if only - set(PARTS):
        p.error(f"--only: unknown {', '.join(sorted(only - set(PARTS)))}")
    root = args.root.resolve()
    if args.compare:
        checkouts = [Checkout(args.compare.resolve(), "before"), Checkout(root, "after")]
    else:
        checkouts = [Checkout(root, "chatbot")]

    env = os.environ
    pg_dir = None
    pg = env.get("CHATBOT_TEST_POSTGRES_URL")
    if not pg and only & {"cost", "limits", "redis"}:
        found = _exports("scripts/ci/start-postgres.sh")
        pg, pg_dir = found["CHATBOT_TEST_POSTGRES_URL"], found["CHATBOT_TEST_POSTGRES_DIR"]
    redis_bin = env.get("CHATBOT_TEST_REDIS_SERVER")
    if not redis_bin and "redis" in only:
        redis_bin = _exports("scripts/ci/start-redis.sh")["CHATBOT_TEST_REDIS_SERVER"]

    figures: list[Figure] = []
    pg_version = None
    try:
        if pg:
            pg_version = await _pg_version(pg)
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            print(
                "running: "
                + ", ".join(p for p in PARTS if p in only)
                + " for "
                + ", ".join(f"{c.label} {c.commit} ({c.root})" for c in checkouts),
                file=sys.stderr,
            )
            if "fanout" in only:
                figures += await bench_fanout(tmp, args, checkouts)
            if "turns" in only:
                figures += await bench_turns(tmp, args, checkouts)
            if "cost" in only:
                assert pg is not None
                figures += await bench_turn_cost(tmp, args, pg, checkouts)
            if "limits" in only:
                assert pg is not None
                figures += current(await bench_limits(args, pg), checkouts)
            if "redis" in only:
                assert pg is not None and redis_bin is not None
                figures += await bench_redis(tmp, args, pg, redis_bin, checkouts)
            if "start" in only:
                figures += await bench_cold_start(tmp, args, checkouts)
            if "pictures" in only:
                from bench.pictures import bench_pictures

                figures += current(await bench_pictures(tmp, quick), checkouts)
    finally:
        if pg_dir:
            _exports("scripts/ci/stop-postgres.sh", pg_dir)
    print(f"machine: {machine(pg_version)}" + (" (--quick sizes)" if quick else ""))
    for c in checkouts:
        print(f"{c.label}: {c.commit} ({c.root})")
    print(table(figures, checkouts))


if __name__ == "__main__":
    asyncio.run(main())
