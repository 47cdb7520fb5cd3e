"""Real MCP servers for the tests, written with the `mcp` SDK's own server API.

- tools_server.py: weather(city), add(a, b), fails(), slow(seconds), env(name), pid(),
  close_stderr(), die();
  over stdio, or over streamable HTTP with `--http --port N` (endpoint /mcp).
- crash_server.py: exits with an error on stderr before the handshake.
- hang_server.py: never answers `initialize`.
Each script imports only the standard library and `mcp`, so it runs under this venv's python
with nothing but what the stdio client passes (PATH, HOME, ... and the configured `env`).

Use from a test:

    settings = stdio_settings("weather", env={"GREETING": "hi"})   # an MCPServerSettings
    async with MCPHTTPServer() as http:                            # a subprocess on a free port
        settings = http.settings("weather")                        # url = http.url
        http.kill()                                                # dies mid-way

and `toml_table(settings)` gives the `[mcp.<name>]` table for a TOML config (`chatbot check`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from bot.tools.mcp import MCPServerSettings
from testing.servers import free_port

HERE = Path(__file__).resolve().parent
TOOLS_SERVER = HERE / "tools_server.py"
CRASH_SERVER = HERE / "crash_server.py"
HANG_SERVER = HERE / "hang_server.py"
TOOLS = (
    "weather",
    "add",
    "fails",
    "slow",
    "env",
    "pid",
    "close_stderr",
    "die",
)  # what tools_server offers


def weather_line(city: str) -> str:
    """What tools_server's `weather` answers."""
    return f"Weather in {city}: 21°C, clear sky"


def stdio_settings(
    name: str = "weather",
    *,
    script: Path = TOOLS_SERVER,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    web: bool = False,
) -> MCPServerSettings:
    """One of the scripts here as a stdio server: this venv's python runs it."""
    return MCPServerSettings(
        name=name, command=sys.executable, args=(str(script), *args), env=env or {}, web=web
    )


def toml_table(settings: MCPServerSettings) -> str:
    """The `[mcp.<name>]` table that configures `settings` (JSON strings are TOML strings)."""
    lines = [f"[mcp.{settings.name}]"]
    if settings.url:
        lines.append(f"url = {json.dumps(settings.url)}")
    if settings.command:
        lines.append(f"command = {json.dumps(settings.command)}")
        lines.append(f"args = {json.dumps(list(settings.args))}")
    if settings.env:
        pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in settings.env.items())
        lines.append(f"env = {{ {pairs} }}")
    if settings.web:
        lines.append("web = true")
    return "\n".join(lines) + "\n"


class MCPHTTPServer:
    """tools_server.py over streamable HTTP, as a subprocess on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        self.port = free_port()
        self._log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(TOOLS_SERVER), "--http", "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def settings(self, name: str = "weather", *, web: bool = False) -> MCPServerSettings:
        return MCPServerSettings(name=name, url=self.url, web=web)

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    async def ready(self, timeout: float = 20.0) -> MCPHTTPServer:
        """Wait until it accepts connections (uvicorn listens once the app has started)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"MCP HTTP server exited early:\n{self.log()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return self
        raise AssertionError(f"MCP HTTP server not listening in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, and reaped: the server is gone at once, mid-session."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    async def __aenter__(self) -> MCPHTTPServer:
        try:
            return await self.ready()
        except BaseException:
            self.kill()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
