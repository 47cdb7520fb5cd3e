"""A loopback server that plays the Slack Web API (and a Socket Mode WebSocket) and records calls.

The real slack-sdk `AsyncWebClient` and bolt talk to it over 127.0.0.1: `auth.test`,
`chat.postMessage`, `chat.update`, `chat.postEphemeral`, the stream methods,
`conversations.replies` / `info` / `members`, `users.info`, `apps.connections.open`, the
assistant methods (`assistant.threads.setStatus` / `setTitle` / `setSuggestedPrompts`),
`agents.sessions.setStatus`, and OAuth's `oauth.v2.access` (a code, or a refresh token when
token rotation is on). Every token belongs to a workspace (`Workspace`): `auth.test` answers
with that workspace's ids and scopes (`x-oauth-scopes`), and a revoked or unknown token is
`invalid_auth`. Slash commands' `response_url`s are served at `/respond/<id>`, and what is
posted there recorded. Tests script failures per method (`fail("chat.startStream", ...)`) and
assert on `calls`. Socket Mode envelopes are pushed down a real WebSocket; acks are recorded.
It is Slack's file host too: `serve(name, data)` puts a file at `/files-pri/...` (given only
with the bot token, else a redirect to a sign-in page elsewhere, as Slack does) and returns the
file object an event carries.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TEAM = "T0TEAM"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-not-real"
# What the app from slack/manifest.yaml is granted.
SCOPES = (
    "app_mentions:read,assistant:write,channels:history,channels:read,chat:write,"
    "chat:write.customize,commands,files:read,groups:history,groups:read,im:history,mpim:history,users:read"
)


@dataclass
class Workspace:
    team: str
    name: str = "Test Team"
    bot_user: str = BOT_USER
    bot_id: str = BOT_ID
    scopes: str = SCOPES
    installer: str = "U0ALICE"


BOT_TOKEN = "xoxb-test-not-a-secret"
_file_ids = itertools.count(1)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Message:
    channel: str
    ts: str
    text: str  # mrkdwn text, or the streamed markdown so far
    thread_ts: str | None
    streaming: bool = False
    streamed: bool = False
    # Task cards of a stream (`task_update` chunks): id -> (title, status), as last sent.
    tasks: dict[str, tuple[str, str]] = field(default_factory=dict)
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None


class SlackAPI:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}  # by ts
        self.failures: dict[str, deque[tuple[str, int, dict[str, str]]]] = defaultdict(deque)
        self.threads: dict[str, list[dict[str, Any]]] = {}  # thread_ts → conversations.replies
        self.names: dict[str, str] = {}
        self.acks: list[dict[str, Any]] = []
        # Tokens and the workspace each belongs to. Any other token is the default workspace's
        # (the single-workspace tests' SLACK_BOT_TOKEN) unless `strict_tokens` is set.
        self.default = Workspace(TEAM)
        self.tokens: dict[str, Workspace] = {}
        self.revoked: set[str] = set()
        self.strict_tokens = False
        self.codes: dict[str, Workspace] = {}  # OAuth codes Slack would hand the installer
        self.refresh: dict[str, Workspace] = {}  # refresh tokens, when rotation is on
        self.rotation_seconds: int | None = None  # set: tokens expire and come with a refresh
        self._issued = 0
        self.channels: dict[str, dict[str, Any]] = {}  # conversations.info, by channel id
        self.members: dict[str, list[str]] = {}  # conversations.members, by channel id
        self.people: dict[str, dict[str, Any]] = {}  # users.info's extra fields, by user id
        self.agent_sessions = True  # False: agents.* is unknown_method, as for older apps
        self.responses: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by response_url id
        self.url = ""
        self.ws_url = ""
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.root = ""
        self.files: dict[str, tuple[bytes, str]] = {}  # by path
        self.file_requests: list[tuple[str, str | None]] = []  # (path, Authorization)

    # -- scripting and inspection --------------------------------------------------------

    def fail(self, method: str, error: str, status: int = 200, **headers: str) -> None:
        self.failures[method].append((error, status, headers))

    def serve(self, name: str, data: bytes, mimetype: str = "image/png") -> dict[str, Any]:
        """Put a file on the file host; the file object a `message` event's `files` carries."""
        file_id = f"F0{next(_file_ids):06d}"
        path = f"/files-pri/{TEAM}-{file_id}/{name}"
        self.files[path] = (data, mimetype)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "mode": "hosted",
            "url_private": self.root + path,
            "url_private_download": self.root + path.replace(f"/{name}", f"/download/{name}"),
        }

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def response_url(self, name: str) -> str:
        """Where a slash command's replies go (`responded(name)` reads them)."""
        return self.url.replace("/api/", f"/respond/{name}")

    def responded(self, name: str) -> list[dict[str, Any]]:
        return self.responses[name]

    def issue_code(self, workspace: Workspace) -> str:
        """The code Slack would put in the redirect after `workspace` approved the install."""
        code = f"code-{workspace.team}-{len(self.codes) + 1}"
        self.codes[code] = workspace
        return code

    @staticmethod
    def token_of(call: Call) -> str:
        auth = call.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""

    def visible(self, channel: str | None = None) -> list[Message]:
        """The bot's messages as Slack would show them now, oldest first."""
        return [m for m in self.messages.values() if channel is None or m.channel == channel]

    async def wait_for(self, pred: Any, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; calls: {[(c.method, c.params) for c in self.calls]}"
                )
            await asyncio.sleep(0.02)

    async def wait_quiet(self, seconds: float = 0.5) -> None:
        """Until no call arrived for `seconds` (for asserting that nothing more happens)."""
        count = -1
        while count != len(self.calls):
            count = len(self.calls)
            await asyncio.sleep(seconds)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> SlackAPI:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._socket)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/files-pri/{tail:.*}", self._file)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}/api/"
        self.ws_url = f"ws://127.0.0.1:{port}/link"
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- socket mode ---------------------------------------------------------------------

    async def connected(self, timeout: float = 8.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def push(
        self, payload: dict[str, Any], envelope_id: str, retry: int = 0, kind: str = "events_api"
    ) -> None:
        """One envelope (Events API, or `slash_commands`) down the live Socket Mode connection."""
        await self.connected()
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry,
            "retry_reason": "timeout" if retry else "",
        }
        await self._sockets[-1].send_str(json.dumps(envelope))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.acks.append(json.loads(msg.data))
        return ws

    # -- the file host -------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.file_requests.append((request.path, auth))
        if auth != f"Bearer {BOT_TOKEN}":
            # Slack sends a browser without the token to its sign-in page, on another host.
            raise web.HTTPFound("http://127.0.0.2:9/signin")
        path = request.path.replace("/download/", "/")
        found = self.files.get(path)
        if found is None:
            return web.Response(status=404, text="file_not_found")
        data, mimetype = found
        return web.Response(body=data, content_type=mimetype)

    # -- the Web API ---------------------------------------------------------------------

    def _ts(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq:06d}"

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses[request.match_info["name"]].append(json.loads(await request.read()))
        return web.Response(text="ok")

    def _workspace(self, call: Call) -> Workspace | None:
        token = self.token_of(call)
        if token in self.revoked:
            return None
        if token in self.tokens:
            return self.tokens[token]
        return None if self.strict_tokens or not token else self.default

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(await request.post()))
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)
        if self.failures[method]:
            error, status, headers = self.failures[method].popleft()
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        if method == "oauth.v2.access":
            return self._oauth(call)
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": self.ws_url})
        workspace = self._workspace(call)
        if workspace is None:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method.startswith("agents.") and not self.agent_sessions:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        if method == "auth.test":
            identity = {
                "user_id": workspace.bot_user,
                "bot_id": workspace.bot_id,
                "team_id": workspace.team,
                "team": workspace.name,
                "user": "chatbot",
            }
            return web.json_response(
                {"ok": True, **identity}, headers={"x-oauth-scopes": workspace.scopes}
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        return web.json_response({"ok": True, **handler(params)})

    def _credentials_ok(self, call: Call) -> bool:
        """OAuth calls carry the app's id and secret (HTTP Basic, or form fields)."""
        auth = call.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            pair = base64.b64decode(auth.removeprefix("Basic ")).decode()
            return pair == f"{CLIENT_ID}:{CLIENT_SECRET}"
        p = call.params
        return (p.get("client_id"), p.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)

    def _oauth(self, call: Call) -> web.Response:
        p = call.params
        if not self._credentials_ok(call):
            return web.json_response({"ok": False, "error": "invalid_client_id"})
        if p.get("grant_type") == "refresh_token":
            found = self.refresh.pop(str(p.get("refresh_token")), None)
            if found is None:
                return web.json_response({"ok": False, "error": "invalid_refresh_token"})
            return web.json_response({"ok": True, **self._grant(found)})
        found = self.codes.pop(str(p.get("code")), None)  # a code works once
        if found is None:
            return web.json_response({"ok": False, "error": "invalid_code"})
        return web.json_response(
            {
                "ok": True,
                **self._grant(found),
                "app_id": APP_ID,
                "team": {"id": found.team, "name": found.name},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": found.installer},
            }
        )

    def _grant(self, workspace: Workspace) -> dict[str, Any]:
        """A new bot token for the workspace (and its refresh token when rotation is on)."""
        self._issued += 1
        token = f"xoxb-{workspace.team}-{self._issued}"
        self.tokens[token] = workspace
        grant: dict[str, Any] = {
            "access_token": token,
            "token_type": "bot",
            "scope": workspace.scopes,
            "bot_user_id": workspace.bot_user,
        }
        if self.rotation_seconds is not None:
            refresh = f"xoxe-{workspace.team}-{self._issued}"
            self.refresh[refresh] = workspace
            grant.update(refresh_token=refresh, expires_in=self.rotation_seconds)
        return grant

    def _post(self, p: dict[str, Any], text: str, streaming: bool) -> dict[str, Any]:
        ts = self._ts()
        self.messages[ts] = Message(
            p["channel"],
            ts,
            text,
            p.get("thread_ts"),
            streaming=streaming,
            streamed=streaming,
            username=p.get("username"),
            icon_emoji=p.get("icon_emoji"),
            icon_url=p.get("icon_url"),
        )
        return {"channel": p["channel"], "ts": ts}

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        if len(p.get("text", "")) > 4000:
            raise web.HTTPOk(
                text=json.dumps({"ok": False, "error": "msg_too_long"}),
                content_type="application/json",
            )
        return self._post(p, p.get("text", ""), streaming=False)

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": self._ts()}  # seen by `user` only: not among `messages`

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        self.messages[p["ts"]].text = p["text"]
        return {"channel": p["channel"], "ts": p["ts"]}

    def _m_chat_startStream(self, p: dict[str, Any]) -> dict[str, Any]:
        if "chunks" in p:
            assert "markdown_text" not in p, "markdown_text and chunks together"
            assert p.get("task_display_mode", "timeline") in ("timeline", "plan")
        answer = self._post(p, p.get("markdown_text", ""), streaming=True)
        self._chunks(self.messages[answer["ts"]], p.get("chunks", []))
        return answer

    def _m_chat_appendStream(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages[p["ts"]]
        assert message.streaming, "appendStream on a stopped stream"
        message.text += p.get("markdown_text", "")
        self._chunks(message, p.get("chunks", []))
        return {"channel": p["channel"], "ts": p["ts"]}

    @staticmethod
    def _chunks(message: Message, chunks: list[dict[str, Any]]) -> None:
        """Streamed chunks as Slack shows them: text appended, task cards by id (latest state)."""
        for chunk in chunks:
            if chunk["type"] == "markdown_text":
                message.text += chunk["text"]
            elif chunk["type"] == "task_update":
                assert chunk["status"] in ("pending", "in_progress", "complete", "error")
                message.tasks[chunk["id"]] = (chunk["title"], chunk["status"])
            else:
                raise AssertionError(f"unknown chunk type {chunk['type']!r}")

    def _m_chat_stopStream(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages[p["ts"]]
        assert message.streaming, "stopStream on a stopped stream"
        message.text += p.get("markdown_text", "")
        message.streaming = False
        return {"channel": p["channel"], "ts": p["ts"]}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"messages": self.threads.get(p["ts"], []), "has_more": False}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = p["user"]
        name = self.names.get(user, user.lower())
        info = {"id": user, "name": name, "profile": {"display_name": name}}
        return {"user": {**info, **self.people.get(user, {})}}

    def _refuse(self, error: str) -> None:
        raise web.HTTPOk(
            text=json.dumps({"ok": False, "error": error}), content_type="application/json"
        )

    def _m_conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(p["channel"])
        if channel is None:
            self._refuse("channel_not_found")
        return {"channel": {"id": p["channel"], **(channel or {})}}

    def _m_conversations_members(self, p: dict[str, Any]) -> dict[str, Any]:
        if p["channel"] not in self.members:
            self._refuse("channel_not_found")
        return {"members": self.members[p["channel"]], "response_metadata": {"next_cursor": ""}}

    def _m_assistant_threads_setStatus(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _m_assistant_threads_setTitle(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _m_assistant_threads_setSuggestedPrompts(self, p: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _m_agents_sessions_setStatus(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"status": p.get("status")}
