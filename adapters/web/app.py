"""The course WebSocket chat: `WS /ws/{nickname}`, `GET /messages`, the page at `GET /`.

See DESIGN.md section 5 for the protocol. Streaming (`?stream=1`) is opt-in: such clients also
get `typing` and `delta` frames; everyone gets exactly one final `text` frame per answer.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from adapters.web.cors import DEFAULT_CORS, CorsPolicy
from adapters.web.hub import Connection, Hub
from adapters.web.inbound import (
    BadFrame,
    error_frame,
    iso,
    nickname_problem,
    parse_client_frame,
    room_problem,
    stored_frame,
    text_frame,
)
from adapters.web.page import build_page_router
from adapters.web.settings import WebSettings
from bot.delivery import ReplyMeta
from bot.errors import USER_LINES, ErrorKind
from bot.memory import MemoryUnavailable
from bot.service import ChatService
from bot.types import Author, IncomingMessage, utcnow

log = logging.getLogger(__name__)

DEFAULT_ROOM = "lobby"
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
MAX_MESSAGE_ID = 2**63 - 1  # ids are 64-bit; a bigger `after` is a client bug, not a 500
JOIN_CODE_LINE = "This chat needs its join code: ask whoever runs it, then join with it."


def channel_of(room: str) -> str:
    return f"web:{room}"


class FloodGuard:
    """A token bucket per connection: `rate` messages a second, bursts of `burst`.

    Over the limit, a message is refused with an error frame (so the sender knows it was not
    sent); a connection that keeps flooding after `max_strikes` refusals is closed.
    """

    def __init__(self, rate: float = 5.0, burst: float = 10.0, max_strikes: int = 20):
        self.rate, self.burst, self.max_strikes = rate, burst, max_strikes
        self.tokens = burst
        self.strikes = 0
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        if self.rate <= 0 or self.burst <= 0:
            return True  # CHATBOT_WS_RATE=0 (or BURST=0): a class demo's script may post fast
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.strikes += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.strikes >= self.max_strikes


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
    """A room as a reply target: native streaming to opted-in clients, no length limit."""

    max_length = 1_000_000

    def __init__(self, hub: Hub, room: str):
        self.hub, self.room = hub, room

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


def _token_ok(given: str | None, expected: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _address(ws: WebSocket) -> str:
    return ws.client.host if ws.client is not None else "unknown"


def build_web_router(
    service: ChatService,
    hub: Hub,
    settings: WebSettings | None = None,
    *,
    cors: CorsPolicy = DEFAULT_CORS,
) -> APIRouter:
    settings = settings or WebSettings()
    router = APIRouter()
    # Other pages (the course's React client) may read it (and /healthz): adapters/web/cors.py.
    readable = APIRouter(route_class=cors.route_class())
    reserved = frozenset({"chatbot", "system", *service.personas})
    cap = settings.connection_cap()
    router.include_router(build_page_router())  # the page: GET /, GET /static/...

    @readable.get("/messages")
    async def messages(
        request: Request,
        room: str = DEFAULT_ROOM,
        limit: int = Query(100, ge=1, le=1000),
        after: int = Query(0, ge=0, le=MAX_MESSAGE_ID),
        token: str | None = None,
    ) -> JSONResponse:
        if not _token_ok(token or _bearer(request), settings.join_token):
            return JSONResponse({"error": "join_code", "detail": JOIN_CODE_LINE}, status_code=401)
        if problem := room_problem(room):
            raise HTTPException(400, problem)
        try:
            stored = await service.memory.recent(channel_of(room), limit, after_id=after)
        except MemoryUnavailable as exc:
            raise HTTPException(503, "The database is unavailable; try again shortly.") from exc
        return JSONResponse([stored_frame(m) for m in stored])

    router.include_router(readable)  # after its routes: older FastAPI copies them when included

    async def refuse(ws: WebSocket, line: str, code: str, close: int) -> None:
        """Accept only to say why in a frame the course client renders, then close."""
        await ws.accept()
        await ws.send_json(error_frame(line, utcnow(), code))
        await ws.close(close)

    @router.websocket("/ws/{nickname}")
    async def chat(
        ws: WebSocket,
        nickname: str,
        room: str = DEFAULT_ROOM,
        stream: str = "0",
        token: str | None = None,
    ) -> None:
        if await cors.refuse_websocket(ws):  # a foreign web page: 403, before anything else
            return
        address = _address(ws)
        if not _token_ok(token, settings.join_token):
            await refuse(ws, JOIN_CODE_LINE, "join_code", CLOSE_POLICY)
            return
        if hub.count() >= cap:
            log.warning("refusing a WebSocket: %d connections is the cap", cap)
            await refuse(ws, "The chat is full right now; try again soon.", "full", CLOSE_TRY_AGAIN)
            return
        if hub.count_from(address) >= settings.max_per_address:
            log.warning(
                "refusing a WebSocket from %s: %d open from there",
                address,
                settings.max_per_address,
            )
            await refuse(ws, "Too many connections from your network.", "full", CLOSE_TRY_AGAIN)
            return
        nickname = nickname.strip()
        problem = nickname_problem(nickname, reserved) or room_problem(room)
        if problem:
            await refuse(ws, problem, "rejected", CLOSE_POLICY)
            return
        await ws.accept()
        conn = Connection(
            ws,
            nickname,
            room,
            stream=stream.lower() in ("1", "true", "yes"),
            queue_size=hub.queue_size,
            address=address,
        )
        hub.join(conn)
        target = WebRoomTarget(hub, room)
        guard = FloodGuard(settings.ws_rate, settings.ws_burst)
        try:
            while not conn.closed:
                event = await ws.receive()
                if event["type"] == "websocket.disconnect":
                    break
                raw = event.get("text")
                if raw is None:
                    hub.send(
                        conn, error_frame("Binary frames are not supported; send text.", utcnow())
                    )
                    continue
                if not guard.allow():
                    if guard.exhausted:
                        log.warning("closing %s in %s: flooding", nickname, room)
                        hub.send(
                            conn, error_frame("Too many messages; disconnected.", utcnow(), "flood")
                        )
                        conn.close(CLOSE_POLICY)
                        break
                    hub.send(
                        conn,
                        error_frame("Slow down: that message was not sent.", utcnow(), "flood"),
                    )
                    continue
                parsed = parse_client_frame(raw)
                if isinstance(parsed, BadFrame):
                    hub.send(conn, error_frame(parsed.reason, utcnow()))
                    continue
                incoming = IncomingMessage(
                    platform="web",
                    channel=channel_of(room),
                    message_id=None,
                    author=Author(id=f"web:{nickname}", name=nickname),
                    text=parsed.text,
                    source=f"web:{address}",
                )
                try:
                    received = await service.receive(incoming, target)
                except MemoryUnavailable:
                    line = USER_LINES[ErrorKind.STORAGE]
                    hub.send(conn, error_frame(line, utcnow(), ErrorKind.STORAGE.value))
                    continue
                except Exception:
                    # Only this sender's message failed: say so to them, keep the connection.
                    log.exception("could not take a message from %s in %s", nickname, room)
                    line = "That message could not be stored, so it was not sent."
                    hub.send(conn, error_frame(line, utcnow(), "not_stored"))
                    continue
                if received.stored is not None:
                    # Synchronous enqueue: the echo is queued before the answer task can run.
                    hub.broadcast(room, stored_frame(received.stored))
        except WebSocketDisconnect:
            pass
        finally:
            hub.leave(conn)
            # Returning closes the socket: first let the writer flush (e.g. the last error).
            await conn.finished()

    return router


def build_health_router(hub: Hub, cors: CorsPolicy = DEFAULT_CORS) -> APIRouter:
    """`GET /healthz`, which stays on when the chat itself is off (CHATBOT_WEB=off)."""
    router = APIRouter(route_class=cors.route_class())

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "connections": hub.count()}

    return router
