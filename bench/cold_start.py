"""Cold start and idle memory: from spawning a server to its first `/healthz` 200, and its RSS
(VmRSS) once idle a second later. bench/run.py starts `chatbot serve` and the bare FastAPI app of
bench/baseline_server.py this way, in turn.

    python -m bench.cold_start   # (in the checkout to probe) the heavy SDKs a started app imported

As a script (run in another checkout: it imports nothing of bench/) it builds the app as `chatbot serve` does (`create_app(AppSettings.from_env())`,
from the environment bench/run.py gives it), runs its start-up (the lifespan: adapters started,
providers built) and prints, as JSON, which of SDKS are in sys.modules after `create_app` and
after start-up, and how many modules there are.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SDKS = ("discord", "slack_bolt", "slack_sdk", "google.genai", "openai")


async def _healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), 5)
        return line.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError, IndexError):
        return False
    finally:
        writer.close()


def log_tail(path: str | Path, chars: int = 3000) -> str:
    return Path(path).read_text(errors="replace")[-chars:]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def one_start(
    argv: Sequence[str], env: dict[str, str], cwd: Path, port: int, log: Path, idle: float = 1.0
) -> tuple[float, int]:
    """Seconds from spawn to the first 200 from /healthz (polled every 10 ms), and the RSS in KiB
    `idle` seconds later; the server is stopped (SIGTERM) afterwards."""
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            "--port",
            str(port),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while not await _healthy(port):
                if proc.returncode is not None:
                    out.flush()
                    raise RuntimeError(f"server exited ({argv}):\n{log_tail(log)}")
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError(f"no /healthz in 60 s: {log}")
                await asyncio.sleep(0.01)
            seconds = time.perf_counter() - t0
            await asyncio.sleep(idle)
            return seconds, rss_kib(proc.pid)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _probe() -> dict[str, object]:
    from chatbot.app import create_app
    from chatbot.config import AppSettings

    app = create_app(AppSettings.from_env())
    built = [m for m in SDKS if m in sys.modules]
    async with app.router.lifespan_context(app):
        started = [m for m in SDKS if m in sys.modules]
        modules = len(sys.modules)
    return {"create_app": built, "started": started, "modules": modules}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_probe())))
