"""The chat page's files: `POST /upload` takes one, `GET /files/{id}` serves it back.

An upload is the raw file as the request body (`fetch('/upload?room=R&nickname=N&name=F',
{method: 'POST', body: file})`): refused with 413 past the size limit before it is all read,
checked and downscaled by the core (the type by the bytes: an SVG or a PDF named `.png` is a
415), and kept until the WebSocket frame that sends it (`"attachments": ["<id>"]`) arrives.
With a join code both routes need it, as `GET /messages` does. A foreign page (an `Origin`
that is neither ours nor allowed) may not upload.

Files are served with the type the core gave them (PNG, JPEG, WebP or UTF-8 text, never
SVG or HTML), `X-Content-Type-Options: nosniff`, a sandboxing CSP of their own, and text as a
download: opened on their own they run nothing. Only web-chat files are served here; what
Discord or Slack sent stays private to those platforms.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from adapters.web.cors import CorsPolicy
from adapters.web.inbound import nickname_problem, room_problem
from adapters.web.settings import WebSettings
from bot.attachments import FileRefused, megabytes, safe_name
from bot.limits import TurnLimiter
from bot.memory import MemoryUnavailable
from bot.service import ChatService

log = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")
SERVED_TYPES = ("image/png", "image/jpeg", "image/webp", "text/plain; charset=utf-8")
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Opened on its own (a new tab), a file is a sandboxed document that may load nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=86400",
}


class TooLarge(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, or TooLarge as soon as it passes `limit` (its Content-Length says so first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def build_files_router(
    service: ChatService,
    settings: WebSettings,
    cors: CorsPolicy,
    *,
    token_ok: Callable[[Request, str | None], bool],
    join_line: str,
    channel_of: Callable[[str], str],
) -> APIRouter:
    """`token_ok(request, ?token)`: the join code rule of `GET /messages`."""
    check_token, channel = token_ok, channel_of
    router = APIRouter()
    reserved = service.reserved_names()
    per_address = TurnLimiter(settings.uploads_per_minute, settings.upload_burst)

    @router.post("/upload")
    async def upload(
        request: Request,
        nickname: str,
        room: str = "lobby",
        name: str = "file",
        token: str | None = None,
    ) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and not cors.admits_websocket(origin, request.headers.get("host")):
            return _error(403, "origin", "Uploads come from the chat's own page.")
        if not check_token(request, token):
            return _error(401, "join_code", join_line)
        nickname = nickname.strip()
        if problem := nickname_problem(nickname, reserved) or room_problem(room):
            return _error(400, "rejected", problem)
        address = request.client.host if request.client is not None else "unknown"
        if not per_address.allow(address):
            return _error(429, "too_many_uploads", "Too many uploads; wait a minute and try again.")
        shown = safe_name(name)
        limit = service.settings.files.max_bytes
        try:
            data = await read_capped(request, limit)
        except TooLarge:
            return _error(413, "too_large", f"{shown} is over the {megabytes(limit)} limit.")
        if not data:
            return _error(400, "empty", f"{shown} is empty.")
        try:
            stored = await service.upload(channel(room), nickname, shown, data)
        except FileRefused as refused:
            status = 413 if "limit" in refused.reason else 415
            return _error(status, "file_refused", refused.reason)
        except MemoryUnavailable:
            return _error(503, "storage_unavailable", "The file could not be stored; try again.")
        body: dict[str, object] = {
            "id": stored.id,
            "name": stored.name,
            "kind": stored.kind,
            "type": stored.media_type,
            "size": stored.size,
            "url": f"/files/{stored.id}",
        }
        if stored.width and stored.height:
            body.update(width=stored.width, height=stored.height)
        return JSONResponse(body, status_code=201)

    @router.get("/files/{attachment_id}")
    async def served(request: Request, attachment_id: str, token: str | None = None) -> Response:
        if not check_token(request, token):
            return _error(401, "join_code", join_line)
        if not _ID.match(attachment_id):
            return _error(404, "not_found", "No such file.")
        try:
            found = await service.file(attachment_id)
        except MemoryUnavailable:
            return _error(503, "storage_unavailable", "The database is unavailable.")
        if found is None or not found[0].channel.startswith("web:"):
            return _error(404, "not_found", "No such file.")
        meta, data = found
        media = meta.media_type if meta.media_type in SERVED_TYPES else "application/octet-stream"
        how = "inline" if media.startswith("image/") else "attachment"
        headers = {
            **FILE_HEADERS,
            "Content-Disposition": f"{how}; filename*=UTF-8''{quote(meta.name, safe='')}",
        }
        return Response(data, media_type=media, headers=headers)

    return router
