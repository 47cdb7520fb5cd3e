"""The course WebSocket protocol: parsing what clients send, building what they receive.

Every frame we send is a JSON object with `type`, `nickname`, `message` and `timestamp`, so
the course client (which prints `nickname [timestamp] : message` for every frame) renders all
of them as readable lines. Extra keys (`id`, `error`, `stream`) are for clients that know them.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.web.lookalike import skeleton
from bot.types import StoredAttachment, StoredMessage

MAX_FRAME_BYTES = 16 * 1024  # a whole frame, JSON and all
MAX_MESSAGE_CHARS = 4000  # the text itself
MAX_NICKNAME_CHARS = 32
MAX_ROOM_CHARS = 64
RESERVED_NICKNAMES = frozenset({"chatbot", "system"})
_ROOM_OK = re.compile(r"^[^\s/\\#?]{1,64}$")
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_FRAME_FILES = 10  # upload ids one frame may name (the core reads at most its own count)

Frame = dict[str, Any]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ParsedText:
    text: str
    uploads: tuple[str, ...] = ()  # `POST /upload` ids this message sends


@dataclass(frozen=True, slots=True)
class BadFrame:
    reason: str


def parse_client_frame(raw: str) -> ParsedText | BadFrame:
    """JSON with `message` or `text`, or a plain-text frame. The claimed nickname is ignored."""
    if len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
        return BadFrame(f"Frame too large: the limit is {MAX_FRAME_BYTES} bytes.")
    uploads: tuple[str, ...] = ()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
        text: object = raw  # not JSON: a plain-text frame
    else:
        if isinstance(data, dict):
            found = _uploads(data.get("attachments"))
            if isinstance(found, BadFrame):
                return found
            uploads = found
            text = data.get("message", data.get("text"))
            if text is None and uploads:
                text = ""  # a picture with nothing said
            if text is None:
                return BadFrame('No text: send {"type": "text", "message": "..."}.')
        else:
            text = raw  # a bare JSON scalar such as `42`: what the person typed
    if not isinstance(text, str):
        return BadFrame("The message must be a string.")
    text = text.strip()
    if not text and not uploads:
        return BadFrame("Empty message: nothing was sent.")
    if len(text) > MAX_MESSAGE_CHARS:
        return BadFrame(f"Message too long: the limit is {MAX_MESSAGE_CHARS} characters.")
    return ParsedText(text, uploads)


def _uploads(value: object) -> tuple[str, ...] | BadFrame:
    """`"attachments": ["<id>", ...]` (or `[{"id": "<id>"}, ...]`): what `POST /upload` gave."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_FRAME_FILES:
        return BadFrame(f"attachments must be a list of at most {MAX_FRAME_FILES} upload ids.")
    ids = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("id")
        if not isinstance(item, str) or not UPLOAD_ID.match(item):
            return BadFrame("attachments must be the ids POST /upload answered with.")
        ids.append(item)
    return tuple(dict.fromkeys(ids))


def nickname_problem(nickname: str, reserved: frozenset[str]) -> str | None:
    name = nickname.strip()
    if not name:
        return "A nickname is required."
    if len(name) > MAX_NICKNAME_CHARS:
        return f"Nicknames are at most {MAX_NICKNAME_CHARS} characters."
    if _has_control(name):
        return "Nicknames cannot contain control characters."
    if name.lower() in reserved:
        return f"The nickname {name!r} is reserved for the bot."
    # Compared by what they look like: `сhatbot` (Cyrillic с), `ｃｈａｔｂｏｔ`, `chatb0t`.
    look = skeleton(name)
    for word in sorted(reserved):
        if skeleton(word) == look:
            return f"The nickname {name!r} looks like {word!r}, which is reserved for the bot."
    return None


def room_problem(room: str) -> str | None:
    if not _ROOM_OK.match(room):
        return f"Room names are 1 to {MAX_ROOM_CHARS} characters without spaces, / \\ # or ?."
    if _has_control(room):  # zero-width spaces, bidi overrides: rooms that look like others
        return "Room names cannot contain control or format characters."
    return None


def _has_control(text: str) -> bool:
    """Any control, format, surrogate, private-use or unassigned character (category C*)."""
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def text_frame(
    nickname: str,
    message: str,
    ts: datetime,
    *,
    id: int | None = None,
    **extra: Any,
) -> Frame:
    frame: Frame = {"type": "text", "nickname": nickname, "message": message, "timestamp": iso(ts)}
    if id is not None:
        frame["id"] = id
    frame.update({k: v for k, v in extra.items() if v is not None})
    return frame


def file_frame(f: StoredAttachment) -> Frame:
    """What a page needs to show one file: `url` serves it (`GET /files/{id}`)."""
    frame: Frame = {"id": f.id, "name": f.name, "kind": f.kind, "type": f.media_type}
    if f.kind in ("image", "text"):
        frame["url"] = f"/files/{f.id}"
    if f.width and f.height:
        frame.update(width=f.width, height=f.height)
    return frame


def stored_frame(message: StoredMessage) -> Frame:
    bot = True if message.role == "assistant" else None  # lets pages render answers as Markdown
    # Only clients that know `attachments` look at it; the course client prints `message`.
    files = [file_frame(f) for f in message.attachments] or None
    return text_frame(
        message.author_name,
        message.text,
        message.created_at,
        id=message.id,
        bot=bot,
        attachments=files,
    )


def error_frame(message: str, ts: datetime, code: str = "bad_request") -> Frame:
    return {
        "type": "error",
        "nickname": "system",
        "message": message,
        "timestamp": iso(ts),
        "error": code,
    }


class FloodGuard:
    """A token bucket per connection: `rate` messages a second, bursts of `burst`.

    Over the limit, a message is refused with an error frame (so the sender knows it was not
    sent); a connection that keeps flooding after `max_strikes` refusals is closed.
    """

    def __init__(self, rate: float = 5.0, burst: float = 10.0, max_strikes: int = 20):
        self.rate, self.burst, self.max_strikes = rate, burst, max_strikes
        self.tokens = burst
        self.strikes = 0
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        if self.rate <= 0 or self.burst <= 0:
            return True  # CHATBOT_WS_RATE=0 (or BURST=0): a class demo's script may post fast
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.strikes += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.strikes >= self.max_strikes
