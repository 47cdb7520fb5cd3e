"""A 10 MB photo through a real `chatbot serve`: peak memory and time per turn, and downscaling.

    .venv/bin/python -m bench.pictures [--quick]

Server (a subprocess on SQLite, the loopback model stub): before each turn the kernel's peak
RSS mark is reset (`/proc/<pid>/clear_refs` = 5), then one addressed turn runs: upload the file
(`POST /upload`), send the frame that carries it, wait for the answer. The peak's growth over
the resident size before the turn is the turn's memory cost. Baselines in the same run: the
same turn with no file, and with a small 1280×800 PNG screenshot. The goal: a 10 MB photo grows the peak by
a small multiple of the file (its bytes, the request body and the decoded, downscaled image),
not by the full decoded size (12 MP x 3 bytes = 36 MB, more while resizing).

Downscaling (in this process): `prepare_file` on the same photo, ms per image, against the
naive path in the same run (decode at full size, then resize), which is what the JPEG draft
mode saves.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image

from bench.run import Row, machine
from bot.attachments import prepare_file
from bot.settings import FileLimits
from testing.chat_client import Client
from testing.images import photo, png
from testing.servers import ServerProcess
from testing.stubs.model_server import ModelServer, Reply

MB = 1024 * 1024


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid: int) -> int:
    """Reset the process's peak RSS to its current RSS; returns that RSS in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status(pid, "VmRSS")


async def one_turn(
    server: ServerProcess, http: httpx.AsyncClient, n: int, data: bytes | None
) -> tuple[float, int]:
    """(seconds, peak RSS growth in bytes) of one addressed turn, with or without a file."""
    pid = server.proc.pid
    await asyncio.sleep(0.3)  # let the last turn's garbage go before the mark
    before = reset_peak(pid)
    start = time.perf_counter()
    frame: dict[str, object] = {"type": "text", "message": f"@chatbot turn {n}"}
    if data is not None:
        up = await http.post(
            "/upload",
            params={"room": "bench", "nickname": "alice", "name": "photo.jpg"},
            content=data,
        )
        assert up.status_code == 201, up.text
        frame["attachments"] = [up.json()["id"]]
    client = await Client.connect(server.ws_url("alice", "bench"))
    await client.send(frame)
    await client.until(lambda f: f.get("nickname") == "chatbot", timeout=60)
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed, _status(pid, "VmHWM") - before


def ms_per_image(fn: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def naive(data: bytes, side: int = FileLimits().max_side) -> bytes:
    """Decode at full size, then resize and encode: the path without the JPEG draft."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        small = im.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


async def bench_pictures(tmp: Path, quick: bool = False) -> list[Row]:
    reps = 2 if quick else 5
    big = photo(4000, 3000, 93)  # noise: a photo that compresses badly, about 10 MB
    small = png(1280, 800)  # a flat screenshot: tens of KB
    limits = FileLimits()
    model = await ModelServer().start()
    model.default = lambda body: Reply("ok")
    server = await ServerProcess(
        {
            "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'pictures.db'}",
            "OPENAI_API_KEY": "sk-bench-not-a-secret",
            "OPENAI_BASE_URL": model.url,
            "CHATBOT_WS_RATE": "0",
            "CHATBOT_WEB_TURNS_PER_MINUTE": "0",
            "CHATBOT_IMAGES_PER_TURN": "1",  # each turn sends its own photo, not earlier ones
        },
        tmp / "pictures.log",
    ).ready()
    rows: list[Row] = []
    try:
        async with httpx.AsyncClient(base_url=server.http, timeout=120) as http:
            for n in range(2):  # warm: imports, connections, Pillow's first decode
                await one_turn(server, http, n, small)
            text = [await one_turn(server, http, 10 + i, None) for i in range(reps)]
            shot = [await one_turn(server, http, 20 + i, small) for i in range(reps)]
            photos = [await one_turn(server, http, 30 + i, big) for i in range(reps)]
    finally:
        await server.stop()
        await model.stop()

    def median_s(xs: list[tuple[float, int]]) -> float:
        return statistics.median(t for t, _ in xs)

    def peak(xs: list[tuple[float, int]]) -> int:
        return max(g for _, g in xs)

    size = len(big)
    rows.append(
        Row(
            f"one turn with a {size / MB:.1f} MiB photo (4000×3000 JPEG): peak RSS growth",
            f"{peak(photos) / MB:.1f} MB",
            f"no file: {peak(text) / MB:.1f} MB; {len(small) / 1024:.0f} KB screenshot: "
            f"{peak(shot) / MB:.1f} MB",
            f"{peak(photos) / size:.2f}x the file",
            "max of the turns; goal: a small multiple of the file",
        )
    )
    rows.append(
        Row(
            "one turn with that photo: time (upload, check, downscale, store, model, answer)",
            f"{median_s(photos) * 1000:.0f} ms",
            f"no file: {median_s(text) * 1000:.0f} ms; screenshot: {median_s(shot) * 1000:.0f} ms",
            f"{median_s(photos) / median_s(text):.1f}x",
            f"median of {reps}; the model stub answers at once",
        )
    )
    ours = ms_per_image(lambda d: prepare_file("photo.jpg", d, limits), big, reps)
    base = ms_per_image(naive, big, reps)
    rows.append(
        Row(
            f"downscaling the photo to {limits.max_side} px (bot/attachments.py)",
            f"{ours:.0f} ms per image",
            f"full decode, then resize: {base:.0f} ms",
            f"{ours / base:.2f}x",
            "JPEG draft mode decodes at 1/2 to 1/8 scale",
        )
    )
    shot_ms = ms_per_image(lambda d: prepare_file("shot.png", d, limits), small, reps)
    rows.append(
        Row("a 1280×800 PNG screenshot, checked and re-encoded", f"{shot_ms:.0f} ms", "", "")
    )
    return rows


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pictures")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        rows = await bench_pictures(Path(d), args.quick)
    print(f"machine: {machine(None)}", file=sys.stderr)
    print("| benchmark | chatbot | baseline (same run) | ratio | note |\n|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r.what} | {r.ours} | {r.baseline} | {r.ratio} | {r.note} |")


if __name__ == "__main__":
    asyncio.run(main())
