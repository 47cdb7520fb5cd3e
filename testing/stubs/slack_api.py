"""A loopback server that plays the Slack Web API (and a Socket Mode WebSocket) and records calls.

The real slack-sdk `AsyncWebClient` and bolt talk to it over 127.0.0.1: `auth.test`,
`chat.postMessage`, `chat.update`, the stream methods, `conversations.replies`, `users.info`,
`apps.connections.open`. Tests script failures per method (`fail("chat.startStream", ...)`) and
assert on `calls`. Socket Mode envelopes are pushed down a real WebSocket; acks are recorded.
It is Slack's file host too: `serve(name, data)` puts a file at `/files-pri/...` (given only
with the bot token, else a redirect to a sign-in page elsewhere, as Slack does) and returns the
file object an event carries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

TEAM = "T0TEAM"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
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


class SlackAPI:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}  # by ts
        self.failures: dict[str, deque[tuple[str, int, dict[str, str]]]] = defaultdict(deque)
        self.threads: dict[str, list[dict[str, Any]]] = {}  # thread_ts → conversations.replies
        self.names: dict[str, str] = {}
        self.acks: list[dict[str, Any]] = []
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

    async def push(self, payload: dict[str, Any], envelope_id: str, retry: int = 0) -> None:
        """One Events API envelope down the live Socket Mode connection."""
        await self.connected()
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": payload,
            "accepts_response_payload": False,
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

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(await request.post()))
        self.calls.append(Call(method, params, dict(request.headers)))
        if self.failures[method]:
            error, status, headers = self.failures[method].popleft()
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        return web.json_response({"ok": True, **handler(params)})

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM, "user": "chatbot"}

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.ws_url}

    def _post(self, p: dict[str, Any], text: str, streaming: bool) -> dict[str, Any]:
        ts = self._ts()
        self.messages[ts] = Message(
            p["channel"], ts, text, p.get("thread_ts"), streaming=streaming, streamed=streaming
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
        return self._post(p, p.get("markdown_text", ""), streaming=True)

    def _m_chat_appendStream(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages[p["ts"]]
        assert message.streaming, "appendStream on a stopped stream"
        message.text += p.get("markdown_text", "")
        return {"channel": p["channel"], "ts": p["ts"]}

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
        return {"user": {"id": user, "name": name, "profile": {"display_name": name}}}
