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
        self.closed_by_server = False

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
        """Read until `want` text frames arrived (or the server closed); returns the count.

        Reads big chunks and walks the frame headers in the buffer: one await per chunk, not
        per frame, so one client process can keep up with hundreds of connections.
        """
        buf = b""
        pos = 0
        try:
            while self.frames < want:
                chunk = await self.reader.read(1 << 18)
                if not chunk:
                    break
                buf = buf[pos:] + chunk
                pos = 0
                end = len(buf)
                while end - pos >= 2:
                    b0, b1 = buf[pos], buf[pos + 1] & 0x7F
                    head = 2
                    if b1 == 126:
                        if end - pos < 4:
                            break
                        b1 = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                        head = 4
                    elif b1 == 127:
                        if end - pos < 10:
                            break
                        b1 = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                        head = 10
                    if end - pos < head + b1:
                        break
                    pos += head + b1
                    if b0 & 0x0F == 8:
                        self.closed_by_server = True
                        return self.frames
                    if b0 & 0x0F == 1:
                        self.frames += 1
                self.last = time.perf_counter()
        except ConnectionError:
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
