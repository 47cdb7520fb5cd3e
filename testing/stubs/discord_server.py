"""A loopback Discord: the REST API (v10) and a gateway WebSocket, as discord.py expects them.

discord.py's own HTTP client and gateway code talk to it over 127.0.0.1: `client.start(token)`
logs in with GET /users/@me, connects to the gateway, gets HELLO, sends IDENTIFY (with its
intents and shard), and receives READY, GUILD_CREATE and the dispatches tests push
(MESSAGE_CREATE, MESSAGE_UPDATE, MESSAGE_DELETE, MESSAGE_DELETE_BULK, INTERACTION_CREATE ...).

- Sessions and shards: each IDENTIFY opens a session for its shard; a guild's events go to
  the session whose shard owns it (`(guild_id >> 22) % shard_count`, Discord's rule), DMs to
  shard 0. `drop()` closes the sockets like a network failure; discord.py reconnects and sends
  RESUME (op 6), and gets every event it missed replayed, then RESUMED. `replay_on_resume = n`
  also replays the last n events it had already received, as Discord may.
- REST calls are recorded; tests script failures (403 50013, 404 10008, 400 50035) as Discord
  sends them. `limit_channels(5, 5.0)` enforces per-channel buckets on creating and on editing
  messages, with Discord's rate-limit headers, and answers 429 past them.
- Interactions: callbacks (`POST /interactions/{id}/{token}/callback`), the original response
  and follow-ups as webhook messages (`PATCH /webhooks/{app}/{token}/messages/@original`,
  `POST /webhooks/{app}/{token}`), a second acknowledgement refused (40060) as Discord does.
- Command sync (`PUT /applications/{app}/commands`, `.../guilds/{guild}/commands`) and threads
  started from a message (`POST /channels/{c}/messages/{m}/threads`, then THREAD_CREATE).
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
EPHEMERAL = 1 << 6
LOADING = 1 << 7
_counter = itertools.count(1)


def snowflake() -> str:
    """A fresh id shaped like Discord's: milliseconds since its epoch, then a counter."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_counter) & 0x3FFFFF))


def shard_of(guild_id: str | int, shard_count: int) -> int:
    return (int(guild_id) >> 22) % shard_count


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
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
    body: Any
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
class Session:
    """One gateway session: its shard, its sequence, every event it was sent (for RESUME)."""

    id: str
    shard: tuple[int, int]
    ws: web.WebSocketResponse | None
    seq: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)  # (seq, frame)

    def owns(self, guild_id: str | None) -> bool:
        shard, count = self.shard
        return shard == 0 if guild_id is None else shard_of(guild_id, count) == shard


@dataclass
class Bucket:
    limit: int
    window: float
    reset_at: float = 0.0
    remaining: int = 0


@dataclass
class DiscordServer:
    bot_user: dict[str, Any]
    application_id: str
    guilds: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # sent by the bot
    deleted: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    identify: dict[str, Any] | None = None  # the latest IDENTIFY
    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    # Threads that exist but were never announced on the gateway (discord.py has not cached them).
    hidden_threads: list[dict[str, Any]] = field(default_factory=list)
    privileged_allowed: bool = True  # False: refuse Message Content like an unapproved app
    replay_on_resume: int = 0  # events already received that a RESUME replays again
    # Registered application commands: None for the global ones, else by guild id.
    commands: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict)
    # Interactions pushed (by token), their callbacks (by interaction id), their messages.
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    responses: dict[str, list[str]] = field(default_factory=dict)  # token: message ids
    threads_started: list[dict[str, Any]] = field(default_factory=list)
    dispatched: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    # The CDN: files by path, the paths fetched, and paths that redirect elsewhere.
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    file_requests: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None
    _sessions: dict[str, Session] = field(default_factory=dict)
    _session_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _limits: tuple[int, float] | None = None
    _limit_headers: bool = True
    _buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
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

    def limit_channels(self, limit: int, window: float, *, headers: bool = True) -> None:
        """Discord's per-channel buckets: `limit` message creations, and separately `limit`
        edits, per `window` seconds in each channel; the next one gets 429. `headers=False`
        keeps the X-RateLimit headers off successful answers, so discord.py cannot wait ahead
        of time and every call over the limit shows as a 429."""
        self._limits = (limit, window)
        self._limit_headers = headers

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
        """Edits of channel messages (not of interaction responses)."""
        return [c for c in self.calls if c.method == "PATCH" and c.path.startswith("/channels/")]

    def typing(self) -> list[Call]:
        return [c for c in self.calls if c.path.endswith("/typing")]

    def visible(self, channel_id: str) -> list[str]:
        """The bot's channel messages as a reader sees them now, oldest first (interaction
        responses are read with `response`)."""
        return [
            m["content"]
            for mid, m in self.messages.items()
            if m["channel_id"] == channel_id
            and mid not in self.deleted
            and "webhook_token" not in m
        ]

    def response(self, token: str) -> list[dict[str, Any]]:
        """An interaction's messages: the original response first, then its follow-ups."""
        return [self.messages[mid] for mid in self.responses.get(token, [])]

    def response_calls(self, token: str) -> list[Call]:
        """Calls on an interaction's webhook (the original response's edits, follow-ups)."""
        return [c for c in self.calls if f"/{token}" in c.path and c.path.startswith("/webhooks")]

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    async def dispatch(self, event: str, data: dict[str, Any], *, everywhere: bool = False) -> None:
        """Send an event to the session whose shard owns its guild (`everywhere`: to every
        session, as when two processes wrongly run the same shard). A session whose socket is
        down keeps the event for its RESUME."""
        self.dispatched.append((event, data, time.monotonic()))
        if event == "INTERACTION_CREATE":
            self.interactions[data["token"]] = data
        for session in list(self._sessions.values()):
            if everywhere or session.owns(data.get("guild_id")):
                await self._send(session, event, data)

    async def _send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.log.append((session.seq, frame))
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_str(frame)

    async def drop(self, code: int = 4000) -> None:
        """Every gateway socket closes as if the network failed; the sessions stay resumable."""
        for session in self._sessions.values():
            ws, session.ws = session.ws, None
            if ws is not None:
                await ws.close(code=code, message=b"dropped by the test")

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
        for session in self._sessions.values():
            if session.ws is not None:
                await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the gateway -------------------------------------------------------------------------

    def _guilds_of(self, shard: tuple[int, int]) -> list[dict[str, Any]]:
        return [g for g in self.guilds if shard_of(g["id"], shard[1]) == shard[0]]

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        session: Session | None = None
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_json({"op": 11})
            elif frame["op"] == 2:
                session = await self._identify(ws, frame["d"])
                if session is None:
                    break
            elif frame["op"] == 6:
                session = await self._resume(ws, frame["d"])
        if session is not None and session.ws is ws:
            session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        self.identify = data
        self.identifies.append(data)
        if not self.privileged_allowed and data["intents"] & MESSAGE_CONTENT:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = (data["shard"][0], data["shard"][1]) if "shard" in data else (0, 1)
        # A new session for a shard replaces the old one, as on Discord.
        for old in [s for s in self._sessions.values() if s.shard == shard]:
            del self._sessions[old.id]
        session = Session(id=f"stub-session-{next(self._session_ids)}", shard=shard, ws=ws)
        self._sessions[session.id] = session
        guilds = self._guilds_of(shard)
        await self._send(
            session,
            "READY",
            {
                "v": 10,
                "user": self.bot_user,
                "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
                "session_id": session.id,
                "resume_gateway_url": self.url.replace("http", "ws") + "/gateway",
                "application": {"id": self.application_id, "flags": 0},
                **({"shard": data["shard"]} if "shard" in data else {}),
            },
        )
        for guild in guilds:
            await self._send(session, "GUILD_CREATE", guild)
        self.ready.set()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        self.resumes.append(data)
        session = self._sessions.get(data.get("session_id") or "")
        if session is None:
            await ws.send_json({"op": 9, "d": False})  # invalid session: identify anew
            return None
        session.ws = ws
        since = (data.get("seq") or 0) - self.replay_on_resume
        for seq, frame in session.log:
            if seq > since and json.loads(frame)["t"] not in ("READY", "GUILD_CREATE"):
                await ws.send_str(frame)
        await self._send(session, "RESUMED", {})
        return session

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
        if parts[0] == "applications" and parts[-1] == "commands":
            return self._commands(request.method, parts, body)
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(parts[1], parts[2], body or {})
        if parts[0] == "webhooks":
            return self._webhook(request.method, parts, body or {})
        if parts[0] == "channels" and len(parts) == 2 and request.method == "GET":
            for channel in self._all_channels():
                if channel["id"] == parts[1]:
                    return reply(channel)
            return reply({"message": "Unknown Channel", "code": 10003}, 404)
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204)
        if parts[0] == "channels" and parts[2:3] == ["messages"] and parts[-1] == "threads":
            return await self._start_thread(parts[1], parts[3], body or {})
        if parts[0] == "channels" and parts[2:3] == ["messages"]:
            headers, limited = self._rate_limit(request.method, parts[1])
            if limited is not None:
                self.calls[-1].status = 429
                return limited
            answer = self._messages(request.method, parts, body or {})
            answer.headers.update(headers)
            return answer
        return reply({"message": "404: Not Found", "code": 0}, 404)

    def _all_channels(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for guild in self.guilds:
            found += guild["channels"] + guild["threads"]
        return found + self.hidden_threads

    def _guild_of(self, channel_id: str) -> str | None:
        for guild in self.guilds:
            if any(c["id"] == channel_id for c in guild["channels"] + guild["threads"]):
                return str(guild["id"])
        return None

    def _rate_limit(
        self, method: str, channel_id: str
    ) -> tuple[dict[str, str], web.Response | None]:
        """Discord's headers for a per-channel bucket, and its 429 once the bucket is spent."""
        if self._limits is None or method not in ("POST", "PATCH"):
            return {}, None
        limit, window = self._limits
        bucket = self._buckets.setdefault((method, channel_id), Bucket(limit, window))
        now = time.monotonic()
        if now >= bucket.reset_at:
            bucket.reset_at, bucket.remaining = now + window, limit
        reset_after = max(bucket.reset_at - now, 0.001)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Bucket": f"stub-{method.lower()}-messages",
        }
        if bucket.remaining == 0:
            body = {"message": "You are being rate limited.", "retry_after": reset_after}
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"})
            headers["Via"] = "1.1 google"
            return headers, reply({**body, "global": False}, 429, headers)
        bucket.remaining -= 1
        headers["X-RateLimit-Remaining"] = str(bucket.remaining)
        return (headers if self._limit_headers else {}), None

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

    def _commands(self, method: str, parts: list[str], body: Any) -> web.Response:
        guild = parts[3] if len(parts) == 5 and parts[2] == "guilds" else None
        if method == "PUT":
            registered = []
            for command in body or []:
                entry = {
                    "id": snowflake(),
                    "application_id": self.application_id,
                    "version": snowflake(),
                    "type": 1,
                    "description": "",  # context menus have none
                    "default_member_permissions": None,
                    "nsfw": False,
                    **command,
                }
                if guild is not None:
                    entry["guild_id"] = guild
                registered.append(entry)
            self.commands[guild] = registered
        return reply(self.commands.get(guild, []))

    def _message(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
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
            "type": 0,
            "flags": body.get("flags", 0),
            **extra,
        }
        self.messages[message["id"]] = message
        return message

    def _callback(self, interaction_id: str, token: str, body: dict[str, Any]) -> web.Response:
        earlier = self.callbacks.setdefault(interaction_id, [])
        if earlier:
            self.calls[-1].status = 400
            return reply(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        earlier.append(body)
        interaction = self.interactions.get(token)
        if interaction is None:
            self.calls[-1].status = 404
            return reply({"message": "Unknown interaction", "code": 10062}, 404)
        kind = body["type"]
        answer: dict[str, Any] = {
            "interaction": {"id": interaction_id, "type": interaction["type"]}
        }
        if kind in (4, 5):  # a message now, or "thinking" until the original response is edited
            data = body.get("data") or {}
            flags = int(data.get("flags", 0)) | (LOADING if kind == 5 else 0)
            message = self._message(
                interaction["channel"]["id"],
                {**data, "flags": flags},
                webhook_token=token,
                type=20,
                interaction_metadata={
                    "id": interaction_id,
                    "type": interaction["type"],
                    "user": (interaction.get("member") or interaction)["user"],
                    "authorizing_integration_owners": interaction.get(
                        "authorizing_integration_owners", {}
                    ),
                },
            )
            self.responses[token] = [message["id"]]
            answer["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            answer["resource"] = {"type": kind, "message": message}
        return reply(answer)

    def _webhook(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        if len(parts) < 3 or parts[1] != self.application_id or parts[2] not in self.interactions:
            self.calls[-1].status = 401
            return reply({"message": "Invalid Webhook Token", "code": 50027}, 401)
        token = parts[2]
        ids = self.responses.get(token, [])
        if method == "POST" and len(parts) == 3:  # a follow-up
            if not ids:
                self.calls[-1].status = 400
                return reply({"message": "Unknown interaction response", "code": 10015}, 400)
            channel = self.interactions[token]["channel"]["id"]
            message = self._message(channel, body, webhook_token=token, type=0)
            ids.append(message["id"])
            return reply(message)
        if len(parts) == 5 and parts[3] == "messages":
            wanted = ids[0] if parts[4] == "@original" and ids else parts[4]
            found = self.messages.get(wanted)
            if found is None or wanted not in ids or wanted in self.deleted:
                self.calls[-1].status = 404
                return reply({"message": "Unknown Message", "code": 10008}, 404)
            if method == "PATCH":
                found.update(
                    content=body.get("content", found["content"]),
                    flags=found["flags"] & ~LOADING,
                    edited_timestamp=now_iso(),
                )
            return reply(found)
        return reply({"message": "404: Not Found", "code": 0}, 404)

    async def _start_thread(
        self, channel_id: str, message_id: str, body: dict[str, Any]
    ) -> web.Response:
        if any(t["id"] == message_id for t in self.threads_started):
            self.calls[-1].status = 400
            return reply(
                {"message": "A thread has already been created for this message", "code": 160004},
                400,
            )
        guild_id = self._guild_of(channel_id)
        guild = next((g for g in self.guilds if str(g["id"]) == guild_id), None)
        if guild is None:
            self.calls[-1].status = 404
            return reply({"message": "Unknown Channel", "code": 10003}, 404)
        thread = {
            # A thread started from a message has that message's id, as on Discord.
            "id": message_id,
            "type": 11,
            "name": body["name"],
            "parent_id": channel_id,
            "owner_id": self.bot_user["id"],
            "guild_id": guild_id,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": now_iso(),
                "locked": False,
            },
        }
        guild["threads"].append(thread)
        self.threads_started.append(thread)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return reply(thread, 201)

    def _messages(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        channel_id = parts[1]
        if method == "POST" and len(parts) == 3:
            extra: dict[str, Any] = {}
            if body.get("message_reference"):
                extra.update(type=19, message_reference=body["message_reference"])
            return reply(self._message(channel_id, body, **extra))
        message_id = parts[3] if len(parts) > 3 else ""
        found = self.messages.get(message_id)
        if found is None or message_id in self.deleted:
            self.calls[-1].status = 404
            return reply({"message": "Unknown Message", "code": 10008}, 404)
        if method == "PATCH":
            found.update(content=body.get("content", found["content"]), edited_timestamp=now_iso())
        return reply(found)
