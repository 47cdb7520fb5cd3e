"""The bot as a Slack app: slack-bolt's AsyncApp over HTTP (`POST /slack/events`) or Socket Mode.

Bolt acknowledges each event at once (the answer runs in the core's background task) and checks
request signatures; the route in front of it refuses a body larger than Slack ever sends with 413
before reading it, answers a forged or stale signature with 401 before anything parses the body,
and a malformed body with 400. Events we do not handle are acked and ignored, so Slack does not
retry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.bounded_body import BodyRefused, BoundedBody, replayed
from adapters.slack_events import SAID_SUBTYPES, BotIdentity, SlackInbound, is_self
from adapters.slack_settings import SlackSettings
from adapters.slack_target import SlackThreadTarget, ThreadPlace
from adapters.slack_web import SlackWeb
from bot.delivery import ReplyMeta
from bot.errors import USER_LINES, ErrorKind
from bot.memory import MemoryUnavailable
from bot.service import ChatService

log = logging.getLogger(__name__)


# Slack's event and interactivity payloads are a few KiB: a message is at most 40,000
# characters, sent twice (text and blocks), under 500 KB even \u-escaped. 1 MiB is generous, and
# all a caller can make us hold before the signature check. Bodies read at once are bounded too
# (8 MiB in all), and so is the time one may take to arrive.
MAX_BODY = 1024 * 1024
BODY_READERS = 8
BODY_TIMEOUT = 10.0


def well_formed(body: bytes, content_type: str | None) -> bool:
    """What bolt would parse: a JSON object, or a form (with a JSON `payload`)."""
    try:
        text = body.decode("utf-8")
        if (content_type or "").startswith("application/json") or text.startswith("{"):
            return isinstance(json.loads(text), dict)
        form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
        if "payload" in form:
            return isinstance(json.loads(form["payload"]), dict)
        return bool(form)
    except (UnicodeDecodeError, ValueError):
        return False


class SlackAdapter:
    def __init__(
        self,
        service: ChatService,
        settings: SlackSettings,
        *,
        streaming: bool = True,
        flush_interval: float = 0.5,
    ):
        self.service = service
        self.settings = settings
        self.streaming = streaming
        self.flush_interval = flush_interval
        self.client = AsyncWebClient(token=settings.bot_token, base_url=settings.base_url)
        self.web = SlackWeb(self.client)
        self.inbound = SlackInbound(self.web, service.memory, service.settings.name)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret or "",
            request_verification_enabled=bool(settings.signing_secret),
        )
        self._register()
        self._http = AsyncSlackRequestHandler(self.app)
        self._verifier = (
            SignatureVerifier(settings.signing_secret) if settings.signing_secret else None
        )
        self.bodies = BoundedBody(MAX_BODY, readers=BODY_READERS, timeout=BODY_TIMEOUT)
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None

    # -- events ----------------------------------------------------------------------------

    def _register(self) -> None:
        async def on_message(
            body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
        ) -> None:
            await self.handle(event, str(body.get("team_id") or context.team_id or ""), context)

        self.app.event("app_mention")(on_message)
        self.app.event("message")(on_message)

        async def ignore() -> None:
            """Every other event: acknowledged (so Slack does not retry it) and dropped."""

        self.app.event(re.compile(".*"))(ignore)

    async def handle(self, event: dict[str, Any], team: str, context: AsyncBoltContext) -> None:
        if event.get("subtype") not in SAID_SUBTYPES or event.get("hidden"):
            return
        if not event.get("channel") or not event.get("ts"):
            return
        me = BotIdentity(context.bot_user_id, context.bot_id)
        if is_self(event, me):
            return
        ts = str(event["ts"])
        place = ThreadPlace(
            channel=str(event["channel"]),
            thread_ts=str(event.get("thread_ts") or ts),
            team=str(event.get("team") or team) or None,
            user=str(event["user"]) if event.get("user") else None,
        )
        target = SlackThreadTarget(
            self.web,
            place,
            default_persona=self.service.settings.name,
            streaming=self.streaming,
            edit_interval=self.service.edit_interval,
            flush_interval=self.flush_interval,
        )
        try:
            incoming = await self.inbound.incoming(event, team, me)
            await self.service.receive(incoming, target)
        except MemoryUnavailable:
            log.error("could not store slack message %s in %s", ts, place.channel)
            with contextlib.suppress(SlackApiError):
                await target.send(USER_LINES[ErrorKind.STORAGE], _storage_meta(self.service))

    # -- transports ------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            if self._verifier is None:
                return JSONResponse({"error": "the Events API is not configured"}, status_code=404)
            try:
                body = await self.bodies.read(request)
            except BodyRefused as refused:
                # Uvicorn discards the rest of the body as it arrives (as on any route): nothing
                # more is held. No `Connection: close`: closing with bytes unread sends a TCP
                # reset, which destroys the 413 before the client reads it.
                return JSONResponse({"error": refused.reason}, status_code=refused.status)
            try:
                valid = self._verifier.is_valid_request(body, dict(request.headers))
            except UnicodeDecodeError:  # Slack only ever sends UTF-8
                return JSONResponse({"error": "malformed body"}, status_code=400)
            if not valid:
                return JSONResponse({"error": "invalid or stale signature"}, status_code=401)
            if not well_formed(body, request.headers.get("content-type")):
                return JSONResponse({"error": "malformed body"}, status_code=400)
            # Bolt reads the body itself: hand it a request that replays the bytes we read.
            return await self._http.handle(replayed(request, body))

        return router

    async def start(self) -> None:
        """Socket Mode, when an app token is set: connect in the background (it retries)."""
        if not self.settings.app_token:
            return
        self._socket = AsyncSocketModeHandler(self.app, self.settings.app_token)
        self._socket_task = asyncio.create_task(self._socket.connect_async())
        log.info("slack socket mode connecting")

    async def stop(self) -> None:
        if self._socket_task is not None and not self._socket_task.done():
            self._socket_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._socket_task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()


def _storage_meta(service: ChatService) -> ReplyMeta:
    return ReplyMeta(persona=service.settings.name, error=ErrorKind.STORAGE)
