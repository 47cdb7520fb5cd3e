"""The one lifecycle every platform adapter has: the composition root loops over these.

An adapter translates one platform to and from the core (`bot.service.ChatService`): it builds
`IncomingMessage`s and reply targets, and never reads memory or decides addressing. Each lives
in its own package, `adapters/<platform>/`, with the same roles: `settings` (a plain dataclass,
no SDK import), `inbound` (platform event → IncomingMessage), `target` (how an answer is sent),
and `app` (this lifecycle and, where the platform calls us over HTTP, its routes).
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter


class Adapter(Protocol):
    name: str  # "web", "slack", "discord": the metrics' `adapter` label

    def router(self) -> APIRouter | None:
        """The HTTP routes the platform needs on our server, if any."""
        ...

    async def start(self) -> None:
        """Connect (a gateway, a socket, a relay) in the background; return at once."""
        ...

    async def stop(self) -> None:
        """After the answers in flight are done: close connections, say goodbye."""
        ...

    def clients(self) -> int:
        """Connections open to people right now (the web chat's sockets), for /healthz."""
        ...
