"""A loopback Discord: the REST API (v10) and a gateway WebSocket, as discord.py expects them.

discord.py's own HTTP client and gateway code talk to it over 127.0.0.1: `client.start(token)`
logs in with GET /users/@me, connects to the gateway, gets HELLO, sends IDENTIFY (with its
intents), and receives READY, GUILD_CREATE and MESSAGE_CREATE dispatches that tests push. REST
calls are recorded; tests script failures (403 50013, 404 10008, 400 50035) as Discord sends them.
It is also the CDN: `serve(name, data)` puts a file at `/attachments/...` and returns the
attachment object a message carries; `redirect_to` makes a path answer 302 elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
CDN_CHANNEL = "810000000000000001"
MESSAGE_CONTENT = 1 << 15  # the privileged intent's bit
_counter = itertools.count(1)


def snowflake() -> str:
    """A fresh id shaped like Discord's: milliseconds since its epoch, then a counter."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_counter) & 0x3FFFFF))


def reply(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with Discord's exact content type (discord.py compares it literally)."""
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    at: float
    status: int = 200  # what the stub answered


@dataclass
class Failure:
    method: str
    path_part: str  # matches when contained in the request path
    status: int
    body: dict[str, Any]
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class DiscordServer:
    bot_user: dict[str, Any]
    application_id: str
    guilds: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # sent by the bot
    deleted: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    identify: dict[str, Any] | None = None
    # Threads that exist but were never announced on the gateway (discord.py has not cached them).
    hidden_threads: list[dict[str, Any]] = field(default_factory=list)
    privileged_allowed: bool = True  # False: refuse Message Content like an unapproved app
    # The CDN: files by path, the paths fetched, and paths that redirect elsewhere.
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    file_requests: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _seq: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    # -- scripting ---------------------------------------------------------------------------

    def fail(self, method: str, path_part: str, status: int, code: int, message: str) -> None:
        body: dict[str, Any] = {"message": message, "code": code}
        if status == 429:  # as Discord sends it (behind its proxy, hence `Via`)
            body.update(retry_after=0.2, **{"global": False})
            headers = {"Via": "1.1 google", "Retry-After": "1", "X-RateLimit-Remaining": "0"}
            self.failures.append(Failure(method, path_part, status, body, headers=headers))
            return
        if code == 50035:
            body["errors"] = {
                "content": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_MAX_LENGTH",
                            "message": "Must be 2000 or fewer in length.",
                        }
                    ]
                }
            }
        self.failures.append(Failure(method, path_part, status, body))

    def serve(
        self, name: str, data: bytes, content_type: str = "image/png", claimed: int | None = None
    ) -> dict[str, Any]:
        """Put a file on the CDN; the attachment object a MESSAGE_CREATE carries for it."""
        attachment_id = snowflake()
        path = f"/attachments/{CDN_CHANNEL}/{attachment_id}/{name}"
        self.files[path] = (data, content_type)
        url = self.url + path
        return {
            "id": attachment_id,
            "filename": name,
            "size": len(data) if claimed is None else claimed,
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def sent(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path.endswith("/messages")]

    def edits(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PATCH"]

    def typing(self) -> list[Call]:
        return [c for c in self.calls if c.path.endswith("/typing")]

    def visible(self, channel_id: str) -> list[str]:
        """The bot's messages in a channel as a reader sees them now, oldest first."""
        return [
            m["content"]
            for mid, m in self.messages.items()
            if m["channel_id"] == channel_id and mid not in self.deleted
        ]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": self._seq, "d": data})
        for ws in list(self._sockets):
            await ws.send_str(frame)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> DiscordServer:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/attachments/{tail:.*}", self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_json({"op": 11})
            elif frame["op"] == 2:
                self.identify = frame["d"]
                if not self.privileged_allowed and frame["d"]["intents"] & MESSAGE_CONTENT:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                self._sockets.append(ws)
                await self.dispatch(
                    "READY",
                    {
                        "v": 10,
                        "user": self.bot_user,
                        "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
                        "session_id": "stub-session",
                        "resume_gateway_url": self.url.replace("http", "ws") + "/gateway",
                        "application": {"id": self.application_id, "flags": 0},
                        **({"shard": self.identify["shard"]} if "shard" in self.identify else {}),
                    },
                )
                for guild in self.guilds:
                    await self.dispatch("GUILD_CREATE", guild)
                self.ready.set()
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    # -- the CDN -----------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(request.path)
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        found = self.files.get(request.path)
        if found is None:
            return web.Response(status=404, text="not found")
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    # -- REST --------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        self.calls.append(Call(request.method, path, body, time.monotonic()))
        for failure in self.failures:
            if failure.method == request.method and failure.path_part in path:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
                self.calls[-1].status = failure.status
                return reply(failure.body, failure.status, failure.headers)
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return reply(self.bot_user)
        if path == "/oauth2/applications/@me":
            return reply(self._application())
        if path == "/gateway/bot":  # AutoShardedClient asks where to connect and how many shards
            gateway = self.url.replace("http", "ws") + "/gateway"
            limits = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return reply({"url": gateway, "shards": 1, "session_start_limit": limits})
        if parts[0] == "channels" and len(parts) == 2 and request.method == "GET":
            for guild in self.guilds:
                for channel in guild["channels"] + guild["threads"] + self.hidden_threads:
                    if channel["id"] == parts[1]:
                        return reply(channel)
            return reply({"message": "Unknown Channel", "code": 10003}, 404)
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204)
        if parts[0] == "channels" and parts[2:3] == ["messages"]:
            return self._messages(request.method, parts, body or {})
        return reply({"message": "404: Not Found", "code": 0}, 404)

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.application_id,
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user,
            "owner": {**self.bot_user, "id": "1", "username": "owner", "bot": False},
            "summary": "",
            "verify_key": "0" * 64,
            "flags": 0,
        }

    def _messages(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        channel_id = parts[1]
        if method == "POST" and len(parts) == 3:
            message: dict[str, Any] = {
                "id": snowflake(),
                "channel_id": channel_id,
                "author": self.bot_user,
                "content": body.get("content") or "",
                "timestamp": now_iso(),
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "pinned": False,
                "type": 19 if body.get("message_reference") else 0,
            }
            if body.get("message_reference"):
                message["message_reference"] = body["message_reference"]
            self.messages[message["id"]] = message
            return reply(message)
        message_id = parts[3] if len(parts) > 3 else ""
        found = self.messages.get(message_id)
        if found is None or message_id in self.deleted:
            self.calls[-1].status = 404
            return reply({"message": "Unknown Message", "code": 10008}, 404)
        if method == "PATCH":
            found.update(content=body.get("content", found["content"]), edited_timestamp=now_iso())
        return reply(found)
