"""Running in production: `GET /healthz`, `GET /metrics`, the graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import uvicorn
from fastapi import APIRouter, Request, Response

from adapters.base import Adapter
from adapters.web.cors import DEFAULT_CORS, CorsPolicy
from bot.service import ChatService
from chatbot.metrics import CONTENT_TYPE, PrometheusMetrics

log = logging.getLogger(__name__)


def build_health_router(adapters: Sequence[Adapter], cors: CorsPolicy = DEFAULT_CORS) -> APIRouter:
    """`GET /healthz`, always on (also with CHATBOT_WEB=off); the course client may read it."""
    router = APIRouter(route_class=cors.route_class())

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "connections": sum(a.clients() for a in adapters)}

    return router


def build_ops_router(metrics: PrometheusMetrics, token: str | None = None) -> APIRouter:
    """`GET /metrics`; with CHATBOT_METRICS_TOKEN only for `Authorization: Bearer <token>`."""
    router = APIRouter()
    expected = f"Bearer {token}".encode() if token else None

    @router.get("/metrics")
    async def prometheus(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if expected is not None and not hmac.compare_digest(given, expected):
            return Response("metrics need their token\n", status_code=401)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return router


class GracefulStop:
    """Let answers in flight finish (within `drain_seconds`), then stop every adapter (the web
    chat closes its sockets with 1001).

    Runs once: from GracefulServer before uvicorn touches the connections, and again (a no-op)
    from the app's lifespan shutdown when the app runs under a plain uvicorn.Server.
    """

    def __init__(self, service: ChatService, adapters: Sequence[Adapter], drain_seconds: float):
        self.service, self.adapters, self.drain_seconds = service, adapters, drain_seconds
        self._done: asyncio.Future[None] | None = None

    async def run(self) -> None:
        if self._done is not None:
            return await asyncio.shield(self._done)
        self._done = asyncio.get_running_loop().create_future()
        try:
            log.info("stopping: finishing answers in flight (up to %.0fs)", self.drain_seconds)
            await self.service.drain(self.drain_seconds)
            for adapter in self.adapters:
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("stopping the %s adapter failed", adapter.name)
        finally:
            self._done.set_result(None)


class GracefulServer(uvicorn.Server):
    """uvicorn, but on SIGTERM the app finishes its answers before uvicorn closes the sockets.

    Plain uvicorn closes WebSockets with 1012 before the lifespan shutdown runs, so answers in
    flight would have nowhere to go. Here: stop accepting, run `before_close`, then uvicorn's
    own shutdown (HTTP requests in flight, lifespan).
    """

    def __init__(self, config: uvicorn.Config, before_close: Callable[[], Awaitable[None]]):
        super().__init__(config)
        self.before_close = before_close

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting; connections already open stay up
        try:
            await self.before_close()
        except Exception:
            log.exception("graceful stop failed; closing anyway")
        await super().shutdown(sockets)
