"""Running in production: `GET /metrics`, the graceful stop on SIGTERM, the Redis relay switch."""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import uvicorn
from fastapi import APIRouter, Request, Response

from adapters.web.hub import CLOSE_GOING_AWAY, Hub
from bot.service import ChatService
from chatbot.metrics import CONTENT_TYPE, PrometheusMetrics

if TYPE_CHECKING:
    from adapters.web.relay import RedisRelay

log = logging.getLogger(__name__)


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
    """Let answers in flight finish (within `drain_seconds`), then close every socket with 1001.

    Runs once: from GracefulServer before uvicorn touches the connections, and again (a no-op)
    from the app's lifespan shutdown when the app runs under a plain uvicorn.Server.
    """

    def __init__(self, service: ChatService, hub: Hub, drain_seconds: float):
        self.service, self.hub, self.drain_seconds = service, hub, drain_seconds
        self._done: asyncio.Future[None] | None = None

    async def run(self) -> None:
        if self._done is not None:
            return await asyncio.shield(self._done)
        self._done = asyncio.get_running_loop().create_future()
        try:
            log.info("stopping: finishing answers in flight (up to %.0fs)", self.drain_seconds)
            await self.service.drain(self.drain_seconds)
            await self.hub.close_all_and_wait(CLOSE_GOING_AWAY)
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


async def start_relay(redis_url: str | None, hub: Hub) -> RedisRelay | None:
    """With CHATBOT_REDIS_URL, rooms span processes; without it, fan-out stays in-process."""
    if not redis_url:
        return None
    from adapters.web.relay import RedisRelay  # needs the `redis` extra

    relay = RedisRelay(redis_url, hub)
    await relay.start()
    return relay
