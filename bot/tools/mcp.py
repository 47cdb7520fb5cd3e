"""MCP servers' tools, through the official `mcp` SDK: stdio (a command we start) or streamable HTTP.

Each server configured in the TOML (`[mcp.<name>]`) gets one long-lived session, owned by a task
of its own: the SDK's connections are anyio contexts, which must be entered and left by the same
task. A server that fails to start (or to list its tools in time) is logged and left out; the
others and the rest of the service go on. A call that hangs is cut off by the tool loop's
timeout (bot/tools/runner.py) and reported to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from bot.tools.base import ToolContext, ToolSpec

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0  # seconds to start, connect and list the tools


@dataclass(frozen=True, slots=True)
class MCPServerSettings:
    name: str
    command: str | None = None  # stdio: the program to start ...
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(
        default_factory=dict
    )  # ... with these variables (ours are not passed)
    url: str | None = None  # streamable HTTP: the server's endpoint
    # Its tools may be offered in anonymous web rooms (false unless the operator says so).
    web: bool = False


class MCPToolFailed(Exception):
    """The server answered the call with an error result."""


def _tool_name(server: str, tool: str) -> str:
    """`<server>__<tool>`, in the characters every provider accepts, at most 64 of them."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")[:64]


class MCPTool:
    def __init__(self, server: MCPServer, name: str, description: str, schema: dict[str, Any]):
        self.server = server
        self.remote_name = name
        self.spec = ToolSpec(
            name=_tool_name(server.settings.name, name),
            description=description or f"{name} (from the {server.settings.name} MCP server)",
            parameters=schema or {"type": "object", "properties": {}},
        )
        self.safe_for_web = server.settings.web

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return await self.server.call(self.remote_name, arguments)


class MCPServer:
    def __init__(self, settings: MCPServerSettings):
        self.settings = settings
        self.state = "stopped"  # stopped, starting, ready, failed
        self.error: str | None = None
        self.tools: dict[str, MCPTool] = {}
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    def _target(self) -> Any:
        from mcp.client.stdio import StdioServerParameters

        s = self.settings
        if s.url:
            return s.url
        assert s.command is not None
        return StdioServerParameters(command=s.command, args=list(s.args), env=dict(s.env) or None)

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Connect and list the tools; on failure, log it and stay out (state "failed")."""
        self.state = "starting"
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.settings.name}")
        waiter = asyncio.create_task(self._ready.wait())
        await asyncio.wait({self._task, waiter}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        if self.state == "ready":
            log.info("mcp server %s: %d tools", self.settings.name, len(self.tools))
            return
        if self.state == "starting":
            self.error = f"no answer within {timeout:.0f} seconds"
        self.state = "failed"
        log.error("mcp server %s left out: %s", self.settings.name, self.error)
        await self.stop()
        self.state = "failed"

    async def _run(self) -> None:
        from mcp import Client

        try:
            async with Client(self._target(), mode="legacy") as client:
                listed = await client.list_tools()
                self.tools = {}
                for tool in listed.tools:
                    wrapped = MCPTool(self, tool.name, tool.description or "", tool.input_schema)
                    self.tools[wrapped.spec.name] = wrapped
                self._client = client
                self.state = "ready"
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # an ExceptionGroup from anyio, a failed start ...
            self.error = _describe(exc)
            if self.state == "ready":
                log.error("mcp server %s stopped: %s", self.settings.name, self.error)
            self.state = "failed"
        finally:
            self._client = None

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        client = self._client
        if client is None:
            raise MCPToolFailed(f"the {self.settings.name} server is not running")
        result = await client.call_tool(name, arguments)
        texts = [getattr(block, "text", "") for block in result.content or []]
        text = "\n".join(t for t in texts if t) or str(result.structured_content or "")
        if result.is_error:
            raise MCPToolFailed(text[:300] or "the tool reported an error")
        return text

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except (TimeoutError, Exception):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if self.state == "ready":
            self.state = "stopped"


def _describe(exc: BaseException) -> str:
    """The first real cause inside anyio's exception groups, in a line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
