"""MCP servers' tools, through the official `mcp` SDK: stdio (a command we start) or streamable HTTP.

Each server configured in the TOML (`[mcp.<name>]`) gets one long-lived session, owned by a task
of its own: the SDK's connections are anyio contexts, which must be entered and left by the same
task. A server that fails to start (or to list its tools in time) is logged and left out; the
others and the rest of the service go on. A call that hangs is cut off by the tool loop's
timeout (bot/tools/runner.py) and reported to the model. A server that dies while ready is
marked failed (its tools are no longer offered) as soon as that is seen: its process's stderr
closes, or a call finds the connection closed.

SDK facts this relies on (mcp 2.x):
- `Client(target, mode="legacy")`: a URL string is streamable HTTP; any `Transport` (an async
  context manager yielding the two streams, as `stdio_client(params, errlog=...)` is) is used
  as is. "legacy" is the `initialize` handshake every server so far speaks ("auto" would first
  probe the 2026 `server/discover`).
- `stdio_client` starts the command with `get_default_environment()` (HOME, LOGNAME, PATH,
  SHELL, TERM, USER) merged with `StdioServerParameters.env`: nothing else of ours (API keys)
  reaches the server, whether `env` is None or a table. Its stderr goes to `errlog`.
- A dead server shows as `MCPError` with code CONNECTION_CLOSED on the pending and next calls;
  the stdio client closes stdin, waits, then kills the process group and reaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

import anyio

from bot.tools.base import ToolContext, ToolSpec

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client import Transport
    from mcp_types import CallToolResult

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0  # seconds to start, connect and list the tools
STOP_TIMEOUT = 10.0  # for a ready session to close (the stdio client needs up to ~6 s to kill)
MAX_TOOL_PAGES = 20  # tools/list pages followed: a paginator that never ends cannot hang start
STDERR_LINES = 20  # the last lines of a stdio server's stderr, kept to explain a failure
CONNECTION_CLOSED = -32000  # mcp_types.CONNECTION_CLOSED (not imported: the SDK loads lazily)

State = Literal["stopped", "starting", "ready", "failed"]


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
    """The call did not give a result: the server answered with an error, or is gone."""


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


class _Stderr:
    """A stdio server's stderr: read as it comes, logged at debug level, the last lines kept.

    Values of the server's configured `env` are masked: they are often its tokens, and a server
    may well print them in an error.
    """

    def __init__(self, server: str, secrets: list[str]):
        self.server = server
        self.secrets = [s for s in secrets if len(s) >= 6]
        self.lines: deque[str] = deque(maxlen=STDERR_LINES)
        read_fd, write_fd = os.pipe()
        self.writer: TextIO | None = os.fdopen(write_fd, "w")  # given to the child as fd 2
        self._reader = os.fdopen(read_fd, "rb")
        self.closed = asyncio.Event()  # EOF: every holder of the write end (the child) is gone
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), self._reader)
        self._task = asyncio.create_task(self._read(stream), name=f"mcp-{self.server}-stderr")

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line over the reader's limit: dropped, reading goes on
                    raw = b"[a line too long to keep]\n"
                if not raw:
                    break
                line = self.mask(raw.decode("utf-8", "replace").rstrip())
                if line:
                    self.lines.append(line)
                    log.debug("mcp server %s stderr: %s", self.server, line)
        except OSError:
            pass  # the pipe went away: what was kept stays
        finally:
            self.closed.set()

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def spawned(self) -> None:
        """The child has its copy of the write end: drop ours, so EOF means it exited."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def finish(self) -> None:
        """After the process is gone: read what is left (bounded), then close the pipe."""
        self.spawned()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed.wait()), 1.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._reader.close()

    def last(self) -> str:
        return self.lines[-1][:300] if self.lines else ""


class MCPServer:
    def __init__(self, settings: MCPServerSettings):
        self.settings = settings
        self.state: State = "stopped"
        self.error: str | None = None
        self.tools: dict[str, MCPTool] = {}
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._scope: anyio.CancelScope | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._stderr: _Stderr | None = None
        self._stopping = False  # stop() closes the session: calls cut short are no failure

    def is_ready(self) -> bool:
        """Connected, tools listed, not known dead: its tools may be offered."""
        return self.state == "ready"

    def _target(self) -> Transport | str:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        s = self.settings
        if s.url:
            return s.url
        assert s.command is not None and self._stderr is not None and self._stderr.writer
        params = StdioServerParameters(command=s.command, args=list(s.args), env=dict(s.env))
        return stdio_client(params, errlog=self._stderr.writer)

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Connect and list the tools; on failure, log it and stay out (state "failed").

        Never raises: a server that crashes, hangs or cannot be reached is one failed entry.
        """
        if self.state in ("starting", "ready"):
            return
        self.state, self.error, self.tools = "starting", None, {}
        self._stopping = False
        self._ready.clear()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.settings.name}")
        waiter = asyncio.create_task(self._ready.wait())
        await asyncio.wait({self._task, waiter}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        if self.is_ready():
            log.info("mcp server %s: %d tools", self.settings.name, len(self.tools))
            return
        if self.error is None:  # nothing failed: it did not answer
            self.error = f"no answer within {timeout:g} seconds"
        await self._end()  # a hanging server: its process is killed and reaped
        self.state = "failed"
        log.error("mcp server %s left out: %s", self.settings.name, self.error)

    async def _run(self) -> None:
        from mcp import Client

        try:
            # stop() cancels this scope (anyio's, so the SDK's shielded teardown still runs).
            with anyio.CancelScope() as self._scope:
                try:
                    if not self.settings.url:  # stdio: its stderr is ours to read
                        self._stderr = _Stderr(self.settings.name, list(self.settings.env.values()))
                        await self._stderr.start()
                    async with Client(self._target(), mode="legacy") as client:
                        if self._stderr is not None:
                            self._stderr.spawned()
                        self.tools = await self._list_tools(client)
                        self._client = client
                        self.state = "ready"
                        self._ready.set()
                        await self._wait_for_stop(client)
                except Exception as exc:  # an ExceptionGroup from anyio, a failed start ...
                    self._failed(self._describe(exc))
        finally:
            # Outside the scope: a cancelled scope would cut these awaits short.
            self._client = None
            if self._stderr is not None:
                await self._stderr.finish()
                self._stderr = None

    async def _list_tools(self, client: Client) -> dict[str, MCPTool]:
        tools: dict[str, MCPTool] = {}
        cursor: str | None = None
        for _ in range(MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                wrapped = MCPTool(self, tool.name, tool.description or "", tool.input_schema)
                tools[wrapped.spec.name] = wrapped
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    async def _wait_for_stop(self, client: Client) -> None:
        """Until stop(), or until a stdio server's process is seen to exit."""
        if self._stderr is None:
            await self._stop.wait()
            return
        stop = asyncio.create_task(self._stop.wait())
        closed = asyncio.create_task(self._stderr.closed.wait())
        try:
            await asyncio.wait({stop, closed}, return_when="FIRST_COMPLETED")
            if stop.done():
                return
            # Its stderr closed: it exited, or only closed its stderr. One request tells which.
            try:
                async with asyncio.timeout(5):
                    await client.list_tools(cache_mode="bypass")
            except Exception as exc:  # the connection closed, or no answer
                log.debug("mcp server %s: %r", self.settings.name, exc)
                self._failed("the server's process exited" + self._stderr_tail())
                return
            log.debug("mcp server %s closed its stderr and still answers", self.settings.name)
            await stop
        finally:
            stop.cancel()
            closed.cancel()

    def _failed(self, error: str) -> None:
        """The first cause is kept: the session's teardown after it may raise again."""
        if self.state == "failed" or self._stopping:
            return
        was_ready = self.state == "ready"
        self.state, self.error = "failed", error
        self._stop.set()  # a session still open closes (and kills the process)
        if was_ready:
            log.error("mcp server %s stopped: %s", self.settings.name, error)

    def _stderr_tail(self) -> str:
        last = self._stderr.last() if self._stderr is not None else ""
        return f" ({last})" if last else ""

    def _describe(self, exc: BaseException) -> str:
        """The first real cause inside anyio's exception groups, in a line."""
        from mcp import MCPError

        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            when = "while ready" if self.state == "ready" else "before it was ready"
            return f"the server closed the connection {when}{self._stderr_tail()}"
        text = exc.message if isinstance(exc, MCPError) else str(exc)
        text = self._stderr.mask(text) if self._stderr is not None else text
        return f"{exc.__class__.__name__}: {text[:200]}"

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        from mcp import MCPError

        client = self._client
        if client is None or self.state != "ready":
            why = f": {self.error}" if self.error else ""
            raise MCPToolFailed(f"the {self.settings.name} server is not running{why}")
        try:
            result = await client.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                # Let a stdio server's stderr say why, if its last words are on their way.
                if self._stderr is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._stderr.closed.wait()), 0.5)
                if self.state == "ready":
                    self._failed(self._describe(exc))
                raise MCPToolFailed(
                    f"the {self.settings.name} server is gone ({self.error})"
                ) from exc
            raise MCPToolFailed(f"the server refused the call: {exc.message[:300]}") from exc
        text = _result_text(result)
        if result.is_error:
            raise MCPToolFailed(text[:300] or "the tool reported an error")
        return text

    async def stop(self) -> None:
        """Close the session (a stdio server's process ends); idempotent."""
        await self._end()
        if self.state != "failed":
            self.state = "stopped"

    async def _end(self) -> None:
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._stop.set()
        if not task.done():
            if self.state != "ready" and self._scope is not None:
                self._scope.cancel()  # still starting: nothing to close politely
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
            except TimeoutError:
                if self._scope is not None:
                    self._scope.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None


def _result_text(result: CallToolResult) -> str:
    """What the model reads: the text blocks, a word for the rest, or the structured result."""
    parts: list[str] = []
    for block in result.content or []:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "resource":
            text = getattr(block.resource, "text", None)
            parts.append(text if text is not None else f"[resource {block.resource.uri}]")
        elif block.type == "resource_link":
            parts.append(f"[resource {block.uri}]")
        else:  # image, audio: not for a text model
            parts.append(f"[{block.type} ({block.mime_type}) left out]")
    text = "\n".join(p for p in parts if p)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    return text
