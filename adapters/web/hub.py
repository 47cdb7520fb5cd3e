"""Room fan-out: each frame is encoded once, and no client can slow the others down.

Every connection has a bounded send queue drained by its own writer task. Broadcasting only
puts the encoded frame on each queue without awaiting anyone; a client whose queue is full
(it stopped reading) is disconnected with a log line.

A streamed answer's deltas are coalesced per connection: while a delta frame waits in a
connection's queue, the next piece of the same stream is appended to it instead of queued
behind it. A model that bursts hundreds of tiny chunks therefore costs a reading client a few
bigger frames, never its connection; only frames a client does not read can fill its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter, defaultdict
from typing import Any, Protocol

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

SEND_QUEUE_SIZE = 256
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_GOING_AWAY = 1001


class PendingDelta:
    """A delta frame waiting in one connection's queue; later pieces of its stream join it."""

    __slots__ = ("frame", "pieces")

    def __init__(self, frame: dict[str, Any]):
        self.frame = frame
        self.pieces = [frame["message"]]

    def add(self, frame: dict[str, Any]) -> None:
        self.pieces.append(frame["message"])
        self.frame = {**frame, "message": ""}

    def encode(self) -> str:
        return json.dumps({**self.frame, "message": "".join(self.pieces)}, ensure_ascii=False)


class Connection:
    def __init__(
        self,
        ws: WebSocket,
        nickname: str,
        room: str,
        *,
        stream: bool,
        queue_size: int = SEND_QUEUE_SIZE,
        address: str = "",
    ):
        self.ws = ws
        self.address = address  # the client's network address: connections per address
        self.nickname = nickname
        self.room = room
        self.stream = stream  # opted in to delta and typing frames
        self.queue: asyncio.Queue[str | PendingDelta | None] = asyncio.Queue(queue_size)
        self._open_delta: PendingDelta | None = None  # the queue's last item, if a delta
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
        self._open_delta = None  # later deltas queue behind this frame, in order
        return True

    def offer_delta(self, frame: dict[str, Any]) -> bool:
        if self.closed:
            return True
        pending = self._open_delta
        if pending is not None and pending.frame["stream"] == frame["stream"]:
            pending.add(frame)
            return True
        pending = PendingDelta(frame)
        try:
            self.queue.put_nowait(pending)
        except asyncio.QueueFull:
            return False
        self._open_delta = pending
        return True

    async def run_writer(self) -> None:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, PendingDelta):
                    if item is self._open_delta:
                        self._open_delta = None  # taken: the next piece starts a new frame
                    item = item.encode()
                await self.ws.send_text(item)
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
    """Carries room frames to the other processes (adapters/web/relay.py, over Redis)."""

    def publish(self, room: str, data: str, streaming_only: bool, delta: bool = False) -> None: ...


class Hub:
    def __init__(self, queue_size: int = SEND_QUEUE_SIZE) -> None:
        self.rooms: dict[str, set[Connection]] = defaultdict(set)
        self.by_address: Counter[str] = Counter()
        self.queue_size = queue_size
        self.relay: Relay | None = None  # set when several processes share rooms
        self._count = 0

    def join(self, conn: Connection) -> None:
        conn.writer = asyncio.create_task(conn.run_writer())
        self.rooms[conn.room].add(conn)
        self.by_address[conn.address] += 1
        self._count += 1

    def leave(self, conn: Connection) -> None:
        members = self.rooms.get(conn.room)
        if members is not None and conn in members:
            members.discard(conn)
            if not members:
                del self.rooms[conn.room]
            self._count -= 1
            self.by_address[conn.address] -= 1
            if self.by_address[conn.address] <= 0:
                del self.by_address[conn.address]
        conn.close(conn.close_code if conn.closed else 1000)

    def count(self) -> int:
        return self._count

    def count_from(self, address: str) -> int:
        return self.by_address.get(address, 0)

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
                self._too_slow(conn)

    def broadcast_delta(self, room: str, frame: dict[str, Any]) -> None:
        """A piece of a streamed answer, for the connections that opted in to streaming."""
        self.deliver_delta(room, frame)
        if self.relay is not None:
            self.relay.publish(room, self.encode(frame), True, delta=True)

    def deliver_delta(self, room: str, frame: dict[str, Any]) -> None:
        for conn in list(self.rooms.get(room, ())):
            if conn.stream and not conn.offer_delta(frame):
                self._too_slow(conn)

    def _too_slow(self, conn: Connection) -> None:
        log.warning(
            "disconnecting %s in %s: it stopped reading (%d frames queued)",
            conn.nickname,
            conn.room,
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
