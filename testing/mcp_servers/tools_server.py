"""A real MCP server for the tests, written with the SDK's high-level server (`MCPServer`).

Runs over stdio (`python tools_server.py`) or streamable HTTP
(`python tools_server.py --http --port N`, endpoint http://127.0.0.1:N/mcp). It imports only the
standard library and `mcp`, so it starts under the venv's python with no PYTHONPATH: the stdio
client passes the server only the variables it is configured with (plus PATH, HOME, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools", instructions="Tools for chatbot's tests.", log_level="WARNING")


@server.tool()
def weather(city: str) -> str:
    """The weather in a city right now."""
    return f"Weather in {city}: 21°C, clear sky"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def fails() -> str:
    """Always fails (the server answers with an error result)."""
    raise ToolError("the tool broke on purpose")


@server.tool()
async def slow(seconds: float) -> str:
    """Wait this many seconds, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds} seconds"


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable in the server's process, or <unset>."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """The server's process id (the tests kill it to see a server die)."""
    return os.getpid()


@server.tool()
def close_stderr() -> str:
    """Close the process's stderr and go on serving (EOF on stderr is not always an exit).

    The SDK's stdio server keeps the protocol on private fds and points fd 1 at stderr too (a
    stray print cannot corrupt the wire), so both go."""
    os.close(1)
    os.close(2)
    return "stderr closed"


@server.tool()
def die() -> str:
    """Exit the server's process at once, without answering."""
    os._exit(3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run()


if __name__ == "__main__":
    main()
