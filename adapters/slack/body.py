"""Read a request body with a size cap, a time bound and a bound on readers at once.

For routes that must see the whole body before they can judge it (a signature covers all of
it): without these bounds, anyone could make the server hold whatever they care to upload.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message


class BodyRefused(Exception):
    """The body was not read in full; `status` is the HTTP answer (400, 408 or 413)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BoundedBody:
    def __init__(self, max_bytes: int, *, readers: int, timeout: float):
        self.max_bytes = max_bytes
        self.timeout = timeout
        # At most `readers` bodies are in memory at once, so at most readers × max_bytes.
        self._readers = asyncio.Semaphore(readers)

    async def read(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            # Refused before a byte is read. The HTTP parser already rejects a malformed length;
            # the digit check keeps int() away from anything odd all the same.
            if not (declared.isascii() and declared.isdigit()):
                raise BodyRefused(400, "malformed Content-Length")
            if len(declared) > 18 or int(declared) > self.max_bytes:
                raise BodyRefused(413, "body too large")
        try:
            # Waiting for a reader counts too: slow posts must not queue up without end.
            async with asyncio.timeout(self.timeout), self._readers:
                return await self._read(request)
        except TimeoutError:
            raise BodyRefused(408, "body not received in time") from None
        except ClientDisconnect:  # nobody is left to answer; no traceback for it either
            raise BodyRefused(400, "client went away") from None

    async def _read(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        # Chunked bodies have no length up front: count as they arrive, stop at the cap.
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > self.max_bytes:
                    raise BodyRefused(413, "body too large")
                chunks.append(chunk)
        return b"".join(chunks)


def replayed(request: Request, body: bytes) -> Request:
    """A new request over the same scope whose body is `body`, for code that reads it again."""
    pending = True

    async def receive() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()  # after the body: the real channel (a disconnect)

    return Request(request.scope, receive)
