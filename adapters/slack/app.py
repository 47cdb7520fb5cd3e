"""The bot as a Slack app: slack-bolt's AsyncApp over HTTP (`POST /slack/events`) or Socket Mode,
in one workspace (SLACK_BOT_TOKEN) or installed to many through bolt's OAuth flow
(`GET /slack/install`, `GET /slack/oauth_redirect`; adapters/slack/installations.py), where
bolt gives each event a client with its workspace's token. Messages (and their edits), the
agent view (adapters/slack/agent.py), the slash command (adapters/slack/commands.py) and
uninstalls are handled here; everything else is acknowledged and ignored.

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
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.files import DEFAULT_FILE_HOSTS, FileDownloads
from adapters.slack.agent import (
    asks_to_summarise,
    channel_in_view,
    set_suggested_prompts,
    viewed,
)
from adapters.slack.api import SlackWeb
from adapters.slack.body import BodyRefused, BoundedBody, replayed
from adapters.slack.commands import SlashCommand
from adapters.slack.inbound import (
    PLATFORM,
    SAID_SUBTYPES,
    BotIdentity,
    SlackInbound,
    edit_of,
    is_self,
    starts_conversation,
)
from adapters.slack.installations import STATE_SECONDS, SlackStores
from adapters.slack.looks import looks_of, may_customize
from adapters.slack.settings import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH, SlackSettings
from adapters.slack.status import ThinkingStatus, title_of
from adapters.slack.target import SlackThreadTarget, ThreadPlace
from bot.service import ChatService
from bot.types import IncomingMessage

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


def team_of(body: dict[str, Any], context: AsyncBoltContext) -> str:
    """The workspace an event happened in: what memory keys carry (`slack:<team>:...`)."""
    return str(body.get("team_id") or context.team_id or "")


UNAVAILABLE = (
    "<html><body><h2>Slack App Installation</h2><p>The installation could not be completed "
    "right now: please try again in a minute.</p></body></html>"
)


class SlackAdapter:
    """The Slack app's lifecycle: `POST /slack/events` and, with an app token, Socket Mode; with
    SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, `GET /slack/install` and `/slack/oauth_redirect`."""

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
        self.stores = SlackStores(
            settings.database_url, settings.client_id if settings.distributed else None
        )
        # One workspace: this client carries SLACK_BOT_TOKEN. Distributed: no token; bolt gives
        # each event a client with the token of the installation it came from.
        self.client = AsyncWebClient(token=settings.bot_token, base_url=settings.base_url)
        # Files: downloaded with the workspace's bot token (scope files:read), from Slack's
        # file host only.
        self.downloads = FileDownloads(file_hosts)
        self.inbound = SlackInbound(service.name, downloads=self.downloads)
        self.status = ThinkingStatus(settings.status)
        self.looks = looks_of(service.personas, service.name)
        self.slash = SlashCommand(service, self.inbound, settings.command)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret or "",
            request_verification_enabled=bool(settings.signing_secret),
            oauth_settings=self._oauth_settings(),
        )
        self._register()
        self._http = AsyncSlackRequestHandler(self.app)
        self._verifier = (
            SignatureVerifier(settings.signing_secret) if settings.signing_secret else None
        )
        self.bodies = BoundedBody(MAX_BODY, readers=BODY_READERS, timeout=BODY_TIMEOUT)
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None

    def _oauth_settings(self) -> AsyncOAuthSettings | None:
        if not self.settings.distributed:
            return None
        assert self.stores.installations is not None and self.stores.states is not None
        oauth = AsyncOAuthSettings(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=self.settings.redirect_uri,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=self.settings.oauth_url,
            installation_store=self.stores.installations,
            state_store=self.stores.states,
            state_expiration_seconds=STATE_SECONDS,
        )
        # The same authorisation, but rotating tokens through our client (SLACK_API_URL), not
        # a default one of its own.
        oauth.authorize = AsyncInstallationStoreAuthorize(
            logger=logging.getLogger("slack_bolt.authorize"),
            installation_store=self.stores.installations,
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            token_rotation_expiration_minutes=oauth.token_rotation_expiration_minutes,
            client=self.client,
        )
        return oauth

    # -- events ----------------------------------------------------------------------------

    def _register(self) -> None:
        async def on_message(
            body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
        ) -> None:
            await self.handle(event, team_of(body, context), context)

        self.app.event("app_mention")(on_message)
        self.app.event("message")(on_message)

        async def on_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
            if event.get("tab") == "messages" and isinstance(event.get("channel"), str):
                await set_suggested_prompts(SlackWeb(context.client), event["channel"])

        self.app.event("app_home_opened")(on_home_opened)

        async def on_context_changed(
            body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
        ) -> None:
            user = event.get("user") or context.user_id
            if isinstance(user, str) and user:
                channel = channel_in_view(event.get("context"))
                await self.stores.contexts.remember(team_of(body, context), user, channel)

        self.app.event("app_context_changed")(on_context_changed)

        async def on_uninstalled(event: dict[str, Any], context: AsyncBoltContext) -> None:
            await self.uninstalled(context, event)

        self.app.event("app_uninstalled")(on_uninstalled)
        self.app.event("tokens_revoked")(on_uninstalled)

        async def on_command(
            ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
        ) -> None:
            await ack()  # at once: Slack waits 3 s; the reply follows through respond
            await self.slash.run(
                SlackWeb(context.client), command, respond, self._targeter(context)
            )

        self.app.command(self.settings.command)(on_command)

        async def on_other_command(ack: AsyncAck, command: dict[str, Any]) -> None:
            """A command named otherwise in the app's settings than here: say so, not fail."""
            log.warning(
                "slack sent the slash command %s, but CHATBOT_SLACK_COMMAND is %s",
                command.get("command"),
                self.settings.command,
            )
            await ack(
                response_type="ephemeral",
                text=f"This app answers {self.settings.command}: ask an admin to match the "
                "command in the app's settings and CHATBOT_SLACK_COMMAND.",
            )

        self.app.command(re.compile(".*"))(on_other_command)

        async def ignore() -> None:
            """Every other event: acknowledged (so Slack does not retry it) and dropped."""

        self.app.event(re.compile(".*"))(ignore)

    def _targeter(
        self, context: AsyncBoltContext, title: str | None = None
    ) -> Callable[[SlackWeb, ThreadPlace], SlackThreadTarget]:
        """How answers are sent for this event: its workspace's token, scopes, personas."""
        result = context.authorize_result
        customize = may_customize(result.bot_scopes if result is not None else None)

        def target(web: SlackWeb, place: ThreadPlace) -> SlackThreadTarget:
            return SlackThreadTarget(
                web,
                place,
                default_persona=self.service.name,
                streaming=self.streaming,
                flush_interval=self.flush_interval,
                looks=self.looks,
                customize=customize,
                status=self.status,
                title=title,
            )

        return target

    async def handle(self, event: dict[str, Any], team: str, context: AsyncBoltContext) -> None:
        me = BotIdentity(context.bot_user_id, context.bot_id)
        if event.get("subtype") in ("message_changed", "message_deleted"):
            await self._edited(event, me)
            return
        if event.get("subtype") not in SAID_SUBTYPES or event.get("hidden"):
            return
        if not event.get("channel") or not event.get("ts"):
            return
        if is_self(event, me):
            return
        web = SlackWeb(context.client)
        ts = str(event["ts"])
        place = ThreadPlace(
            channel=str(event["channel"]),
            thread_ts=str(event.get("thread_ts") or ts),
            team=str(event.get("team") or team) or None,
            user=str(event["user"]) if event.get("user") else None,
        )
        incoming = await self.inbound.incoming(web, event, team, me)
        title = None
        if starts_conversation(event):
            # A new conversation in the app's DM (its agent view): titled after this question.
            title = title_of(incoming.text)
            incoming = await self._agent_view(web, event, team, incoming)
        target = self._targeter(context, title)(web, place)
        if incoming.in_thread:
            await self.service.seed(
                incoming.channel, lambda: self.inbound.earlier(web, event, team, me)
            )
        await self.service.receive(incoming, target)

    async def _agent_view(
        self, web: SlackWeb, event: dict[str, Any], team: str, incoming: IncomingMessage
    ) -> IncomingMessage:
        """ "Summarise this channel" in the agent view: the channel the person has in view."""
        if incoming.author.is_bot or not asks_to_summarise(incoming.text):
            return incoming
        user = incoming.author.id
        channel = channel_in_view(event.get("app_context"))
        if channel is None:
            channel = await self.stores.contexts.viewing(team, user)
        seen = await viewed(
            web, self.service, self.inbound.names, team=team, user=user, channel=channel
        )
        return replace(incoming, asks="summary", viewing=seen)

    async def _edited(self, event: dict[str, Any], me: BotIdentity) -> None:
        """A person edited or deleted a message: memory follows (the core never re-answers)."""
        edit = edit_of(event, me, self.service.name)
        if edit is None or edit.by_self:
            return  # our own answers change as they stream; memory has them already
        if edit.text is None:
            await self.service.deleted(PLATFORM, list(edit.message_ids))
            return
        for message_id in edit.message_ids:
            await self.service.edited(PLATFORM, message_id, edit.text)

    async def uninstalled(self, context: AsyncBoltContext, event: dict[str, Any]) -> None:
        """`app_uninstalled`, or `tokens_revoked` with the bot's token: forget the installation,
        so the workspace is no longer answered. Its memory stays (README: how to delete it)."""
        installations = self.stores.installations
        team = None if context.is_enterprise_install else context.team_id
        where = context.enterprise_id or team or "?"
        if installations is None:
            log.warning("slack: the app was uninstalled from %s (%s)", where, event.get("type"))
            return
        tokens = event.get("tokens")
        revoked: dict[str, Any] = tokens if isinstance(tokens, dict) else {}
        if event.get("type") == "tokens_revoked" and not revoked.get("bot"):
            for user in revoked.get("oauth") or []:  # people's tokens only: still installed
                await installations.async_delete_installation(
                    enterprise_id=context.enterprise_id, team_id=team, user_id=str(user)
                )
            return
        await installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=team)
        log.warning("slack: uninstalled from %s; its installation is deleted", where)

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

        async def oauth(request: Request) -> Response:
            """Bolt's OAuth flow: the install page, then Slack's redirect back with a code."""
            if not self.settings.distributed:
                return JSONResponse({"error": "OAuth is not configured"}, status_code=404)
            try:
                return await self._http.handle(request)
            except Exception:
                log.exception("the Slack OAuth flow failed at %s", request.url.path)
                return HTMLResponse(UNAVAILABLE, status_code=503)

        router.add_api_route(INSTALL_PATH, oauth, methods=["GET"])
        router.add_api_route(REDIRECT_PATH, oauth, methods=["GET"])
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
        await self.stores.close()

    def clients(self) -> int:
        return 0  # Slack's people are not connected to us; Slack is
