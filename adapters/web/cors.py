"""Which other web pages may use the chat: CORS for two routes, an Origin check for WebSockets.

The course's React client runs on its own dev server (http://localhost:3000 or :5173), so it is
another origin than this server: the browser hands it the answer of `GET /messages` only when
the answer names its origin. Only `GET /messages` and `GET /healthz` do (`route_class`); the
page, `/metrics`, `/slack/events` and anything added later stay same-origin.

WebSockets have no CORS: a browser opens one from any page and only reports that page's Origin.
A handshake from a page that is neither ours nor allowed is refused before it is accepted
(uvicorn answers 403), so a site a student happens to visit cannot chat, or spend the API key,
through their browser. A client that sends no Origin (a script, a bot) is not a web page.

The allow-list is CHATBOT_CORS_ORIGINS: exact origins, comma-separated, or `*`; unset means
pages on this machine (localhost, 127.0.0.1, [::1]) at any port, over http or https.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import WebSocket
from fastapi.routing import APIRoute
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)

SETTING = "CHATBOT_CORS_ORIGINS"
# The default list: a dev server on this machine, whatever its port.
LOOPBACK_ORIGIN = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_METHODS = "GET"
# What a fetch() may add; the rest of what browsers send is CORS-safelisted anyway.
ALLOW_HEADERS = "Accept, Accept-Language, Authorization, Content-Language, Content-Type"
MAX_AGE = "600"  # seconds a browser may reuse a preflight answer (Chromium caps it at 7200)

Handle = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_origin(entry: str) -> str:
    """`entry` as browsers send an Origin (lower case, no default port), or ValueError."""
    parts = urlsplit(entry)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{entry!r}: the port is not a port number") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or " " in entry:
        raise ValueError(f"{entry!r} is not an origin (scheme://host[:port], http or https)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{entry!r}: an origin is only scheme://host[:port], no path or user")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port_part = "" if port in (None, DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{port_part}"


def is_own_page(origin: str, host: str | None) -> bool:
    """A page served by this server: the Origin's host[:port] is the address the request used."""
    _, sep, netloc = origin.partition("://")
    return bool(sep and host) and netloc.lower() == (host or "").lower()


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """`origins` None is the default loopback list; `any_origin` is CHATBOT_CORS_ORIGINS=*."""

    origins: frozenset[str] | None = None
    any_origin: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> CorsPolicy:
        """CHATBOT_CORS_ORIGINS's value (blank: the default); ValueError says which entry."""
        entries = [e.strip() for e in (raw or "").split(",") if e.strip()]
        if not entries:
            return cls()
        if "*" in entries:
            if len(entries) > 1:
                raise ValueError("'*' already allows every origin; list nothing else with it")
            return cls(any_origin=True)
        return cls(origins=frozenset(parse_origin(e) for e in entries))

    def describe(self) -> str:
        if self.any_origin:
            return "any origin"
        if self.origins is None:
            return "pages on localhost, 127.0.0.1 and [::1] (any port)"
        return ", ".join(sorted(self.origins))

    def allowed(self, origin: str | None) -> bool:
        if not origin:
            return False
        if self.any_origin:
            return True
        if self.origins is None:
            return LOOPBACK_ORIGIN.fullmatch(origin) is not None
        return origin in self.origins

    # -- HTTP ----------------------------------------------------------------------------------

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """For an answer to `origin`: empty unless it may read it (then the browser blocks)."""
        if not self.allowed(origin):
            return {}
        assert origin is not None
        return {"Access-Control-Allow-Origin": origin}

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        if not self.allowed(origin):
            return {}
        return {
            **self.response_headers(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }

    def preflight(self, origin: str) -> Response:
        headers = self.preflight_headers(origin)
        if not headers:
            return PlainTextResponse("Origin not allowed.", 403, headers={"Vary": "Origin"})
        return Response(status_code=204, headers={**headers, "Vary": "Origin"})

    async def handle(self, handle: Handle, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or run the route and put the CORS headers on whatever it sends."""
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self.preflight(origin)(scope, receive, send)
            return
        extra = self.response_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.update(extra)
                out.add_vary_header("Origin")  # the answer differs by Origin: caches must know
            await send(message)

        await handle(scope, receive, send_with_cors)

    def route_class(self) -> type[APIRoute]:
        """A route class for the routes other pages may read; errors (400, 422, 503) included."""
        policy = self

        class CorsRoute(APIRoute):
            async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
                # Preflights reach here too: an OPTIONS is a partial match of a GET route.
                await policy.handle(super().handle, scope, receive, send)

        return CorsRoute

    # -- WebSocket -----------------------------------------------------------------------------

    def admits_websocket(self, origin: str | None, host: str | None) -> bool:
        if not origin:
            return True  # not a web page: scripts, bots, Python's websockets
        return is_own_page(origin, host) or self.allowed(origin)

    async def refuse_websocket(self, ws: WebSocket) -> bool:
        """Close the handshake of a foreign page before accepting it (uvicorn answers 403)."""
        origin = ws.headers.get("origin")
        if origin is None or self.admits_websocket(origin, ws.headers.get("host")):
            return False
        log.info(
            "refused a WebSocket from the page at %r: not ours, not in %s", origin[:200], SETTING
        )
        await ws.close()
        return True


DEFAULT_CORS = CorsPolicy()
