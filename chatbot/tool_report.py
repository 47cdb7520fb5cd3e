"""The lines about tools in `chatbot check` and the console: the built-ins, the round limit, and
each MCP server's state and tool list.

`chatbot check` starts each server for real (then stops it again): a check that only read the
configuration could not say that a server fails to start. The console reports the running
service's own servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.tools.builtin import BUILTIN_NAMES
from bot.tools.mcp import MCPServer
from bot.tools.toolbox import ToolBox
from chatbot.config import AppSettings
from chatbot.redact import redact_url


def server_lines(settings: AppSettings, servers: Iterable[MCPServer]) -> list[str]:
    bot = settings.bot
    lines = [
        f"tools:     built in: {', '.join(BUILTIN_NAMES)}; at most {bot.max_tool_rounds} "
        f"rounds a turn, {bot.tool_timeout:g} s a call"
    ]
    for server in servers:
        s = server.settings
        where = redact_url(s.url) if s.url else f"stdio: {s.command}"
        web = ", offered in web rooms" if s.web else ""
        if server.state == "ready":
            names = ", ".join(sorted(t.remote_name for t in server.tools.values()))
            lines.append(f"mcp {s.name}: ready ({where}{web}): {names or 'no tools'}")
        elif server.state in ("stopped", "starting"):
            lines.append(f"mcp {s.name}: {server.state} ({where})")
        else:
            lines.append(f"mcp {s.name}: FAILED ({where}): {server.error}")
    return lines


async def tool_lines(settings: AppSettings, *, timeout: float = 20.0) -> list[str]:
    """For `chatbot check`: every configured server started, described, stopped."""
    servers = [MCPServer(s) for s in settings.tags.mcp.values()]
    await asyncio.gather(*(server.start(timeout) for server in servers))
    try:
        return server_lines(settings, servers)
    finally:
        await asyncio.gather(*(server.stop() for server in servers))


def toolbox_lines(settings: AppSettings, box: ToolBox | None) -> list[str]:
    """For the console: the running service's servers as they are now."""
    return server_lines(settings, box.servers.values() if box is not None else ())
