"""The course WebSocket chat: `WS /ws/{nickname}`, `GET /messages`, the page at `GET /`.

See the README's protocol section. Streaming (`?stream=1`) is opt-in: such clients also get
`typing` and `delta` frames; everyone gets exactly one final `text` frame per answer. With
CHATBOT_REDIS_URL, rooms span processes (adapters/web/relay.py).
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from adapters.web.cors import DEFAULT_CORS, CorsPolicy
from adapters.web.files import build_files_router
from adapters.web.hub import CLOSE_GOING_AWAY, Connection, Hub
from adapters.web.inbound import (
    BadFrame,
    FloodGuard,
    error_frame,
    nickname_problem,
    parse_client_frame,
    room_problem,
    stored_frame,
)
from adapters.web.page import build_page_router
from adapters.web.settings import WebSettings
from adapters.web.target import WebRoomTarget
from bot.memory import MemoryUnavailable
from bot.service import ChatService
from bot.types import Attachment, Author, IncomingMessage, utcnow

if TYPE_CHECKING:
    from adapters.web.relay import RedisRelay

log = logging.getLogger(__name__)

DEFAULT_ROOM = "lobby"
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
MAX_MESSAGE_ID = 2**63 - 1  # ids are 64-bit; a bigger `after` is a client bug, not a 500
JOIN_CODE_LINE = "This chat needs its join code: ask whoever runs it, then join with it."


def channel_of(room: str) -> str:
    return f"web:{room}"


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
    reserved = service.reserved_names()
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
            stored = await service.history(channel_of(room), limit, after_id=after)
        except MemoryUnavailable as exc:
            raise HTTPException(503, "The database is unavailable; try again shortly.") from exc
        return JSONResponse([stored_frame(m) for m in stored])

    router.include_router(readable)  # after its routes: older FastAPI copies them when included
    router.include_router(
        build_files_router(
            service,
            settings,
            cors,
            token_ok=lambda request, token: _token_ok(
                token or _bearer(request), settings.join_token
            ),
            join_line=JOIN_CODE_LINE,
            channel_of=channel_of,
        )
    )

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
        target = WebRoomTarget(hub, room, conn)
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
                    # Uploaded already (POST /upload): the core links them to this message.
                    attachments=tuple(Attachment(name="", upload_id=u) for u in parsed.uploads),
                )
                received = await service.receive(incoming, target)  # refusals: target.notice
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


class WebAdapter:
    """The web chat's lifecycle: its routes, the Redis relay if configured, its sockets."""

    name = "web"

    def __init__(
        self,
        service: ChatService,
        settings: WebSettings,
        *,
        cors: CorsPolicy = DEFAULT_CORS,
        redis_url: str | None = None,
        hub: Hub | None = None,
    ):
        self.service, self.settings, self.cors = service, settings, cors
        self.redis_url = redis_url
        self.hub = hub or Hub()
        self._relay: RedisRelay | None = None

    def router(self) -> APIRouter:
        return build_web_router(self.service, self.hub, self.settings, cors=self.cors)

    async def start(self) -> None:
        if self.redis_url:
            from adapters.web.relay import RedisRelay  # needs the `redis` extra

            self._relay = RedisRelay(self.redis_url, self.hub)
            await self._relay.start()

    async def stop(self) -> None:
        """Close every socket with 1001 after the frames queued for it; then the relay."""
        await self.hub.close_all_and_wait(CLOSE_GOING_AWAY)
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None

    def clients(self) -> int:
        return self.hub.count()
