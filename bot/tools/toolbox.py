"""Which tools a turn may offer the model: the tag's list, who asks, and where.

- A tag's `tools` names what it may use: built-in names, `mcp:<server>` (all of a server's tools)
  or `mcp:<server>.<tool>`. Unset, the bot's own tag gets the built-ins and other tags none.
- `tool_roles` / `tool_users` (the shape of reset_roles / reset_users) limit them on Discord and
  Slack to members with one of those roles or ids; the web chat has neither, so a limited tag
  offers it no tools.
- The web chat, anonymous, only ever gets tools marked safe for it (the built-ins read nothing
  beyond the room; an MCP server's tools only with `web = true`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from bot.personas import Persona
from bot.tools.base import Tool
from bot.tools.builtin import BUILTIN_NAMES
from bot.tools.mcp import MCPServer
from bot.types import IncomingMessage

LABELS = {
    "search_memory": "searching this channel's memory…",
    "current_time": "checking the time…",
    "channel_summary": "reading the channel's summary…",
}


def label_of(name: str) -> str:
    """What people see while the tool `name` runs."""
    if name in LABELS:
        return LABELS[name]
    server, _, tool = name.partition("__")
    return f"using {server}: {tool}…" if tool else f"using {name}…"


class ToolBox:
    def __init__(self, builtins: Mapping[str, Tool], servers: Sequence[MCPServer], bot_name: str):
        self.builtins = dict(builtins)
        self.servers = {s.settings.name: s for s in servers}
        self.bot_name = bot_name
        self._starting: asyncio.Task[None] | None = None

    def names_of(self, persona: Persona) -> tuple[str, ...]:
        if persona.tools is not None:
            return persona.tools
        return BUILTIN_NAMES if persona.name == self.bot_name else ()

    def allowed(self, persona: Persona, message: IncomingMessage) -> bool:
        if not (persona.tool_roles or persona.tool_users):
            return True
        if message.platform == "web":
            return False  # anyone may type any nickname there: no one to recognise
        author = message.author.id
        if author in persona.tool_users or f"{message.platform}:{author}" in persona.tool_users:
            return True
        return any(role in persona.tool_roles for role in message.roles)

    def for_turn(self, persona: Persona, message: IncomingMessage) -> dict[str, Tool]:
        if not self.allowed(persona, message):
            return {}
        found: dict[str, Tool] = {}
        for name in self.names_of(persona):
            if name.startswith("mcp:"):
                server_name, _, only = name[4:].partition(".")
                server = self.servers.get(server_name)
                if server is None or not server.is_ready():
                    continue  # left out at start (logged), or gone since
                for tool in server.tools.values():
                    if not only or tool.remote_name == only:
                        found[tool.spec.name] = tool
            elif name in self.builtins:
                found[name] = self.builtins[name]
        if message.platform == "web":
            found = {n: t for n, t in found.items() if t.safe_for_web}
        return found

    def start(self) -> None:
        """Start the MCP servers, all at once and in the background: the chat is up at once,
        and a server's tools join the turns once it is ready (`ready()` waits for that)."""
        if self.servers and self._starting is None:
            starts = [server.start() for server in self.servers.values()]
            self._starting = asyncio.create_task(_all(starts), name="mcp-start")

    async def ready(self) -> None:
        """Until every server is ready or left out."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        await _all([server.stop() for server in self.servers.values()])


async def _all(calls: list[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*calls)
