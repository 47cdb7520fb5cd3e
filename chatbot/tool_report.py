"""`chatbot check`'s lines about tools: the built-ins, the round limit, and each MCP server
started for real (its state and tool list), then stopped again."""

from __future__ import annotations

import asyncio

from bot.tools.builtin import BUILTIN_NAMES
from bot.tools.mcp import MCPServer
from chatbot.config import AppSettings
from chatbot.redact import redact_url


async def tool_lines(settings: AppSettings, *, timeout: float = 20.0) -> list[str]:
    bot = settings.bot
    lines = [
        f"tools:     built in: {', '.join(BUILTIN_NAMES)}; at most {bot.max_tool_rounds} "
        f"rounds a turn, {bot.tool_timeout:g} s a call"
    ]
    servers = [MCPServer(s) for s in settings.tags.mcp.values()]
    await asyncio.gather(*(server.start(timeout) for server in servers))
    try:
        for server in servers:
            s = server.settings
            where = redact_url(s.url) if s.url else f"stdio: {s.command}"
            web = ", offered in web rooms" if s.web else ""
            if server.state == "ready":
                names = ", ".join(sorted(t.remote_name for t in server.tools.values()))
                lines.append(f"mcp {s.name}: ready ({where}{web}): {names or 'no tools'}")
            else:
                lines.append(f"mcp {s.name}: FAILED ({where}): {server.error}")
    finally:
        await asyncio.gather(*(server.stop() for server in servers))
    return lines
