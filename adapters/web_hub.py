"""Room fan-out: each frame is encoded once, and no client can slow the others down.

Every connection has a bounded send queue drained by its own writer task. Broadcasting only
puts the encoded frame on each queue without awaiting anyone; a client whose queue is full
(it stopped reading) is disconnected with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any, Protocol

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

SEND_QUEUE_SIZE = 256
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_GOING_AWAY = 1001


class Connection:
    def __init__(
        self,
        ws: WebSocket,
        nickname: str,
        room: str,
        *,
        stream: bool,
        queue_size: int = SEND_QUEUE_SIZE,
    ):
        self.ws = ws
        self.nickname = nickname
        self.room = room
        self.stream = stream  # opted in to delta and typing frames
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self.closed = False
        self.close_code = 1000
        self.writer: asyncio.Task[None] | None = None

    def offer(self, data: str) -> bool:
        if self.closed:
            return True
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            return False
        return True

    async def run_writer(self) -> None:
        try:
            while (data := await self.queue.get()) is not None:
                await self.ws.send_text(data)
        except Exception:  # the socket went away: the reader side notices and cleans up
            pass
        finally:
            self.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(self.close_code), 2.0)

    async def finished(self, timeout: float = 2.0) -> None:
        """Wait until the writer has flushed what was queued and closed the socket."""
        if self.writer is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.writer), timeout)

    def close(self, code: int) -> None:
        """Stop after what is already queued... unless the queue is the problem."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self.writer is not None and code == CLOSE_TOO_SLOW:
            self.writer.cancel()  # its queue is full of frames it will never read
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class Relay(Protocol):
    """Carries room frames to the other processes (adapters/web_relay.py, over Redis)."""

    def publish(self, room: str, data: str, streaming_only: bool) -> None: ...


class Hub:
    def __init__(self, queue_size: int = SEND_QUEUE_SIZE) -> None:
        self.rooms: dict[str, set[Connection]] = defaultdict(set)
        self.queue_size = queue_size
        self.relay: Relay | None = None  # set when several processes share rooms

    def join(self, conn: Connection) -> None:
        conn.writer = asyncio.create_task(conn.run_writer())
        self.rooms[conn.room].add(conn)

    def leave(self, conn: Connection) -> None:
        members = self.rooms.get(conn.room)
        if members is not None:
            members.discard(conn)
            if not members:
                del self.rooms[conn.room]
        conn.close(conn.close_code if conn.closed else 1000)

    def count(self) -> int:
        return sum(len(m) for m in self.rooms.values())

    @staticmethod
    def encode(frame: dict[str, Any]) -> str:
        return json.dumps(frame, ensure_ascii=False)

    def broadcast(self, room: str, frame: dict[str, Any], *, streaming_only: bool = False) -> None:
        data = self.encode(frame)
        self.deliver(room, data, streaming_only=streaming_only)
        if self.relay is not None:
            self.relay.publish(room, data, streaming_only)

    def deliver(self, room: str, data: str, *, streaming_only: bool = False) -> None:
        """Put an encoded frame on the queue of every local connection in the room."""
        for conn in list(self.rooms.get(room, ())):
            if streaming_only and not conn.stream:
                continue
            if not conn.offer(data):
                log.warning(
                    "disconnecting %s in %s: it stopped reading (%d frames queued)",
                    conn.nickname,
                    room,
                    self.queue_size,
                )
                conn.close(CLOSE_TOO_SLOW)
                self.leave(conn)

    def send(self, conn: Connection, frame: dict[str, Any]) -> None:
        if not conn.offer(self.encode(frame)):
            conn.close(CLOSE_TOO_SLOW)
            self.leave(conn)

    def close_all(self, code: int = CLOSE_GOING_AWAY) -> None:
        for members in list(self.rooms.values()):
            for conn in list(members):
                conn.close(code)

    async def close_all_and_wait(self, code: int = CLOSE_GOING_AWAY, timeout: float = 5.0) -> None:
        """Close every connection after what is queued for it, and wait for the close frames."""
        writers = [c.writer for m in self.rooms.values() for c in m if c.writer is not None]
        self.close_all(code)
        if writers:
            await asyncio.wait(writers, timeout=timeout)
