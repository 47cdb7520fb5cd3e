"""A web room as the core's reply target: streamed to opted-in clients, a notice for the sender."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from adapters.web.hub import Connection, Hub
from adapters.web.inbound import error_frame, iso, text_frame
from bot.delivery import ReplyMeta
from bot.tools.base import ToolStatus
from bot.types import utcnow


class WebStream:
    def __init__(self, hub: Hub, room: str, meta: ReplyMeta):
        self.hub, self.room, self.meta = hub, room, meta
        self.id = uuid.uuid4().hex[:12]

    async def append(self, delta: str) -> None:
        self.hub.broadcast_delta(
            self.room,
            {
                "type": "delta",
                "nickname": self.meta.persona,
                "message": delta,
                "timestamp": iso(utcnow()),
                "stream": self.id,
            },
        )

    async def close(self, text: str, meta: ReplyMeta) -> None:
        self.hub.broadcast(self.room, _answer_frame(text, meta, stream=self.id))

    async def tool_status(self, status: ToolStatus) -> None:
        """A `tool` frame for the clients that opted in to streaming (the page's status line)."""
        state = "failed" if status.failed else "done" if status.done else "running"
        frame = {
            "type": "tool",
            "nickname": self.meta.persona,
            "message": status.label,
            "tools": list(status.tools),
            "state": state,
            "timestamp": iso(utcnow()),
            "stream": self.id,
        }
        self.hub.broadcast(self.room, frame, streaming_only=True)


def _answer_frame(text: str, meta: ReplyMeta, stream: str | None = None) -> dict[str, Any]:
    return text_frame(
        meta.persona,
        text,
        meta.timestamp or utcnow(),
        id=meta.message_id,
        error=meta.error.value if meta.error else None,
        stream=stream,
        bot=True,
    )


class WebRoomTarget:
    """A room as a reply target: native streaming to opted-in clients, no length limit, and a
    notice for the one connection that sent the message."""

    max_length = 1_000_000

    def __init__(self, hub: Hub, room: str, sender: Connection | None = None):
        self.hub, self.room, self.sender = hub, room, sender

    async def notice(self, text: str, meta: ReplyMeta) -> None:
        if self.sender is not None:
            code = meta.error.value if meta.error else "notice"
            self.hub.send(self.sender, error_frame(text, utcnow(), code))

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, text: str, meta: ReplyMeta) -> None:
        self.hub.broadcast(self.room, _answer_frame(text, meta))

    async def open_stream(self, meta: ReplyMeta) -> WebStream:
        return WebStream(self.hub, self.room, meta)

    @contextlib.asynccontextmanager
    async def typing(self, persona: str) -> AsyncIterator[None]:
        frame = {
            "type": "typing",
            "nickname": persona,
            "message": f"{persona} is typing…",
            "timestamp": iso(utcnow()),
        }
        self.hub.broadcast(self.room, frame, streaming_only=True)
        yield
