"""An MCP server that hangs at start: it writes its pid (argv[1], if given) and then never reads
its stdin nor answers `initialize`, as a server stuck on a lock or a network call would."""

from __future__ import annotations

import os
import sys
import time

if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(str(os.getpid()))
while True:
    time.sleep(3600)
