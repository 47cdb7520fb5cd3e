"""`chatbot serve` as a real subprocess on a free loopback port, for tests that need processes."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, env: dict[str, str], log: Path, *, fd_limit: int | None = None):
        """`fd_limit`: run as under `ulimit -n` (soft and hard), as on many hosts."""
        self.port = free_port()
        self.log_path = log
        self._log = log.open("w")

        def limit_fds() -> None:
            if fd_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot.cli", "serve", "--port", str(self.port)],
            env={**os.environ, "CHATBOT_TIMEOUT": "10", **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_fds,
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, nickname: str, room: str = "lobby") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{nickname}?room={room}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    async def ready(self, timeout: float = 30.0) -> ServerProcess:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as http:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited early:\n{self.log()}")
                try:
                    if (await http.get(f"{self.http}/healthz", timeout=1)).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.log()}")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 30.0) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.terminate()
            try:
                await self.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await self.wait(5)
        self._log.close()
