"""An MCP server that crashes at start: it writes its pid (argv[1], if given), complains on
stderr and exits with status 2 before reading a byte of the handshake. Given WEATHER_API_KEY,
it prints the key in its complaint (the client must mask configured values in what it logs)."""

from __future__ import annotations

import os
import sys

if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(str(os.getpid()))
key = os.environ.get("WEATHER_API_KEY")
if key:
    print(f"crash_server: cannot start: the key {key} was refused", file=sys.stderr)
else:
    print("crash_server: cannot start: missing WEATHER_API_KEY", file=sys.stderr)
sys.exit(2)
