"""The web chat's settings: whether it runs, who may join, and how much one client may do."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

# A classroom behind one NAT shares one address: 40 students with a tab or two each fit.
MAX_CONNECTIONS_PER_ADDRESS = 200


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_fd_limit() -> int:
    """Raise this process's soft file-descriptor limit to the hard one; returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # some containers refuse; the cap below follows whatever we have
    return soft


def connection_cap(limit: int) -> int:
    """WebSockets allowed at once: the descriptor limit minus room for everything else (HTTP
    requests, the database, model calls in flight: a burst of 100 turns is 100 sockets)."""
    return max(16, limit - max(128, limit // 4))


@dataclass(frozen=True, slots=True)
class WebSettings:
    enabled: bool = True  # CHATBOT_WEB=off: no page, no /ws, no /messages
    # CHATBOT_WEB_TOKEN: a join code the page asks for once; /ws and /messages require it.
    join_token: str | None = field(default=None, repr=False)
    ws_rate: float = 5.0  # CHATBOT_WS_RATE: messages a second per connection (0: no limit)
    ws_burst: float = 10.0  # CHATBOT_WS_BURST
    # CHATBOT_WS_MAX_CONNECTIONS: all WebSockets at once; None: from the descriptor limit.
    max_connections: int | None = None
    max_per_address: int = MAX_CONNECTIONS_PER_ADDRESS  # CHATBOT_WS_MAX_PER_ADDRESS
    # CHATBOT_WEB_UPLOADS_PER_MINUTE, CHATBOT_WEB_UPLOAD_BURST: `POST /upload` per address
    # (each image costs a decode); 0 turns the limit off.
    uploads_per_minute: float = 60.0
    upload_burst: int = 20

    def connection_cap(self) -> int:
        return self.max_connections or connection_cap(fd_limit())
