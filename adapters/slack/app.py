"""The bot as a Slack app: slack-bolt's AsyncApp over HTTP (`POST /slack/events`) or Socket Mode.

Bolt acknowledges each event at once (the answer runs in the core's background task) and checks
request signatures; the route in front of it refuses a body larger than Slack ever sends with 413
before reading it, answers a forged or stale signature (or a junk stamp) with 401 before anything
parses the body, and a malformed body, or one bolt could not read, with 400. Events we do not
handle are acked and ignored, so Slack does not retry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.files import DEFAULT_FILE_HOSTS, FileDownloads
from adapters.slack.api import SlackWeb
from adapters.slack.body import BodyRefused, BoundedBody, replayed
from adapters.slack.inbound import SAID_SUBTYPES, BotIdentity, SlackInbound, is_self
from adapters.slack.settings import SlackSettings
from adapters.slack.target import SlackThreadTarget, ThreadPlace
from bot.service import ChatService

log = logging.getLogger(__name__)


# Slack's event and interactivity payloads are a few KiB: a message is at most 40,000
# characters, sent twice (text and blocks), under 500 KB even \u-escaped. 1 MiB is generous, and
# all a caller can make us hold before the signature check. Bodies read at once are bounded too
# (8 MiB in all), and so is the time one may take to arrive.
MAX_BODY = 1024 * 1024
BODY_READERS = 8
BODY_TIMEOUT = 10.0

# Slack stamps requests with Unix seconds; anything else (`nan`, `1e3`, `１２`) is not a stamp.
_STAMP = re.compile(r"[0-9]{1,12}")


def signed_by_slack(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """The signature check, minus the junk that crashes slack-sdk's: int('nan'), non-ASCII."""
    stamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not _STAMP.fullmatch(stamp) or not signature.isascii():
        return False
    return verifier.is_valid(body, stamp, signature)  # UnicodeDecodeError for a non-UTF-8 body


def payload_of(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """What bolt would parse: a JSON object, or a form (with a JSON `payload`); None if neither."""
    try:
        text = body.decode("utf-8")
        if (content_type or "").startswith("application/json") or text.startswith("{"):
            payload = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
            payload = json.loads(form["payload"]) if "payload" in form else form or None
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


# Where bolt looks for ids before any listener runs, and the fields it reads there: each a
# string or an object (`"id" in channel` on a number is a TypeError inside bolt, a 500).
_ID_FIELDS = ("user", "team", "channel", "enterprise")
_EVENT_PARTS = ("message", "previous_message", "item", "assistant_thread")


def shape_problem(payload: dict[str, Any]) -> str | None:
    """Why bolt could not read this signed payload (it would raise, a 500), or None."""
    if "type" in payload and not isinstance(payload["type"], str):
        return "type is not a string"
    places = [payload]
    if "event" in payload:
        event = payload["event"]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event is not an object with a type"
        places += [event] + [event[k] for k in _EVENT_PARTS if isinstance(event.get(k), dict)]
    grants = payload.get("authorizations")
    if grants is not None:
        if not isinstance(grants, list) or not all(isinstance(g, dict) for g in grants):
            return "authorizations is not a list of objects"
        places += grants[:1]
    for place in places:
        for field in _ID_FIELDS:
            if not isinstance(place.get(field), str | dict | None):
                return f"{field} is neither a string nor an object"
    return None


class SlackAdapter:
    """The Slack app's lifecycle: `POST /slack/events` and, with an app token, Socket Mode."""

    name = "slack"

    def __init__(
        self,
        service: ChatService,
        settings: SlackSettings,
        *,
        streaming: bool = True,
        flush_interval: float = 0.5,
        file_hosts: tuple[str, ...] = DEFAULT_FILE_HOSTS,
    ):
        self.service = service
        self.settings = settings
        self.streaming = streaming
        self.flush_interval = flush_interval
        self.client = AsyncWebClient(token=settings.bot_token, base_url=settings.base_url)
        self.web = SlackWeb(self.client)
        # Files: downloaded with the bot token (scope files:read), from Slack's file host only.
        self.downloads = FileDownloads(file_hosts)
        self.inbound = SlackInbound(
            self.web, service.name, downloads=self.downloads, token=settings.bot_token
        )
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
            default_persona=self.service.name,
            streaming=self.streaming,
            flush_interval=self.flush_interval,
        )
        incoming = await self.inbound.incoming(event, team, me)
        if incoming.in_thread:
            await self.service.seed(incoming.channel, lambda: self.inbound.earlier(event, team, me))
        await self.service.receive(incoming, target)

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
                valid = signed_by_slack(self._verifier, body, request.headers)
            except UnicodeDecodeError:  # Slack only ever sends UTF-8
                return JSONResponse({"error": "malformed body"}, status_code=400)
            if not valid:
                return JSONResponse({"error": "invalid or stale signature"}, status_code=401)
            payload = payload_of(body, request.headers.get("content-type"))
            problem = "not a JSON object or form" if payload is None else shape_problem(payload)
            if problem is not None:
                return JSONResponse({"error": f"malformed body: {problem}"}, status_code=400)
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
        await self.downloads.close()
        if self._socket_task is not None and not self._socket_task.done():
            self._socket_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._socket_task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()

    def clients(self) -> int:
        return 0  # Slack's people are not connected to us; Slack is
