"""The frames between the server and its model worker processes (chatbot/model_workers.py).

Each frame is a 4-byte big-endian length and a pickled tuple. Both ends are our own code, started
by the server itself over a pipe, so pickle is safe here. Server to worker:

    ("config", ProviderConfig, names)            first, once: build these providers now
    ("call", call_id, provider_name, ModelRequest)
    ("cancel", call_id)                          the server stopped waiting

Worker to server:

    ("ready",)                                   once, after the config
    ("delta", call_id, text)
    ("done", call_id, ModelReply)
    ("error", call_id, ErrorKind value, detail, retry_after)
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct(">I")


def frame(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next frame, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        body = await reader.readexactly(_LENGTH.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None
    message = pickle.loads(body)
    assert isinstance(message, tuple)
    return message
