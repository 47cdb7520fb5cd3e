"""A minimal WebSocket client for load: it counts frames without decoding them.

A full client library would spend more CPU per frame than the servers under test; this one
reads frame headers and skips payloads, so the client side is not what gets measured.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time


class RawWS:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.frames = 0
        self.last = 0.0

    @classmethod
    async def connect(cls, port: int, path: str) -> RawWS:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        # FIN + text; masked with an all-zero key (valid, and the payload stays as is).
        header = bytes([0x81]) + (
            bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        )
        self.writer.write(header + b"\0\0\0\0" + payload)
        await self.writer.drain()

    async def say(self, message: str) -> None:
        await self.send_text(json.dumps({"type": "text", "nickname": "x", "message": message}))

    async def count(self, want: int) -> int:
        """Read until `want` text frames arrived (or the server closed); returns the count."""
        r = self.reader
        try:
            while self.frames < want:
                b0, b1 = await r.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(await r.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await r.readexactly(8), "big")
                await r.readexactly(n)
                if b0 & 0x0F == 8:
                    break
                if b0 & 0x0F == 1:
                    self.frames += 1
                    self.last = time.perf_counter()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        return self.frames

    def close(self) -> None:
        self.writer.transport.abort()


def stalled_socket(port: int, path: str) -> socket.socket:
    """Completes the handshake and never reads again, with the smallest receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock
