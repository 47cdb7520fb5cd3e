"""Attached files: what the bytes are (never the name), the limits, and images made ready.

Every platform's files pass through here before memory keeps them: the type is read from the
first bytes (PNG, JPEG, GIF, WebP, UTF-8 text; SVG and everything else are refused), a file
over the size limit or an image over the pixel limit is refused before it is decoded, and
images are downscaled to `max_side`, a GIF to its first frame, with their metadata (EXIF: GPS,
camera) left behind. What is kept is always PNG, JPEG or WebP: every provider reads those.
Decoding runs in a worker thread; the event loop never waits for Pillow.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.settings import FileLimits
from bot.types import Attachment, NewAttachment, StoredMessage, utcnow

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
READABLE = "images (PNG, JPEG, WebP, GIF) and text files"
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# Images decoded at once, whatever the number of uploads in flight: each holds tens of MB for a
# few hundred ms, and there are two cores. The others wait in their worker threads.
_DECODING = threading.BoundedSemaphore(2)


class FileRefused(Exception):
    """A file the core will not read; `reason` is the one line its sender sees."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def megabytes(n: int) -> str:
    """`20 MB`, or `1.95 KB` for a small limit."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    return f"{n / 1024:.3g} KB"


def sniff(data: bytes) -> str | None:
    """The media type the bytes say, or None for anything we do not read."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    start = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"<svg") or (start.startswith((b"<?xml", b"<!")) and b"<svg" in start):
        return "image/svg+xml"
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


@dataclass(frozen=True, slots=True)
class Ready:
    """A file as it will be kept: checked, and for an image downscaled and re-encoded."""

    kind: Literal["image", "text"]
    media_type: str
    data: bytes
    width: int | None = None
    height: int | None = None
    note: str | None = None


def prepare_file(name: str, data: bytes, limits: FileLimits) -> Ready:
    """Check one file's bytes and make them ready to keep. Raises FileRefused. CPU-bound."""
    if len(data) > limits.max_bytes:
        raise FileRefused(f"{name} is over the {megabytes(limits.max_bytes)} limit.")
    kind = sniff(data)
    if kind == "image/svg+xml":
        raise FileRefused(f"{name}: SVG images are not supported; send a PNG, JPEG, WebP or GIF.")
    if kind in IMAGE_TYPES:
        with _DECODING:
            return _image(name, data, kind, limits)
    if kind == "text/plain":
        text = data.decode("utf-8-sig")
        note = None
        if len(text) > limits.text_max_chars:
            text = text[: limits.text_max_chars]
            note = f"cut at {limits.text_max_chars:,} characters"
        return Ready("text", "text/plain; charset=utf-8", text.encode("utf-8"), note=note)
    raise FileRefused(f"{name}: I can read {READABLE}, not this kind of file.")


def _image(name: str, data: bytes, kind: str, limits: FileLimits) -> Ready:
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]]) as im:
            width, height = im.size
            if width * height > limits.max_pixels:
                raise FileRefused(
                    f"{name} is {width}×{height} pixels: over the limit of "
                    f"{limits.max_pixels / 1e6:g} megapixels."
                )
            side = limits.max_side
            if im.format == "JPEG" and max(width, height) > side:
                # Decode at a fraction of the size straight from the JPEG's DCT: a 12 MP photo
                # never exists at full size in memory. Draft keeps both sides at least this
                # big, so ask for the final size, not a square.
                scale = side / max(width, height)
                im.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            im.seek(0)  # an animated GIF: its first frame
            im.load()
            # Phones store the rotation in EXIF: apply it (a copy only when there is one).
            turned = im.getexif().get(0x0112, 1) not in (None, 1)
            small = ImageOps.exif_transpose(im) if turned else im
        if max(small.size) > side:
            small.thumbnail((side, side), Image.Resampling.LANCZOS)
        has_alpha = small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info
        if kind == "image/jpeg" or (kind == "image/webp" and not has_alpha):
            mode, fmt, media = "RGB", "JPEG", "image/jpeg"
        else:
            mode, fmt, media = ("RGBA" if has_alpha else "RGB"), "PNG", "image/png"
        if small.mode != mode:
            small = small.convert(mode)
        out = io.BytesIO()
        # Saved anew, the image leaves its EXIF (GPS, camera) and other metadata behind.
        small.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
        w, h = small.size
    except FileRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise FileRefused(f"{name} could not be read as an image.") from None
    return Ready("image", media, out.getvalue(), w, h)


@dataclass(frozen=True, slots=True)
class Kept:
    """What happened to a message's files: rows to keep, and a line per refused file."""

    files: list[NewAttachment]
    upload_ids: list[str]
    refused: list[str]


async def read_attachments(
    stored: StoredMessage,
    attachments: Sequence[Attachment],
    limits: FileLimits,
    *,
    fetch: bool,
) -> Kept:
    """Fetch and check what the core will read; name the rest.

    `fetch` is False for a message the core does not answer: its files are named in memory
    (`[attachment: name]`) but never downloaded. A web upload is already checked and stored.
    """
    files: list[NewAttachment] = []
    uploads: list[str] = []
    refused: list[str] = []

    def named(a: Attachment, note: str | None = None, media: str | None = None) -> NewAttachment:
        return NewAttachment(
            channel=stored.channel,
            name=a.name,
            kind="other",
            media_type=media or "application/octet-stream",
            data=None,
            author_name=a.author_name or stored.author_name,
            created_at=stored.created_at,
            note=note,
        )

    over = len(attachments) - limits.max_files
    if over > 0 and fetch:
        refused.append(
            f"Only {limits.max_files} files are read per message: "
            f"{', '.join(a.name or 'an upload' for a in attachments[limits.max_files :])} "
            f"{'was' if over == 1 else 'were'} not."
        )
    for i, a in enumerate(attachments):
        if a.upload_id is not None:
            if i < limits.max_files:
                uploads.append(a.upload_id)
            continue
        if not fetch or a.fetch is None or i >= limits.max_files:
            files.append(named(a))
            continue
        try:
            if a.size is not None and a.size > limits.max_bytes:
                raise FileRefused(f"{a.name} is over the {megabytes(limits.max_bytes)} limit.")
            data = await a.fetch(limits.max_bytes)
            ready = await asyncio.to_thread(prepare_file, a.name, data, limits)
            del data  # the original's bytes go as soon as the smaller copy exists
        except FileRefused as why:
            refused.append(why.reason)
            files.append(named(a, "not read: " + why.reason))
            continue
        except Exception as exc:
            log.warning("could not fetch %s: %s", a.name, exc.__class__.__name__)
            line = f"{a.name} could not be downloaded."
            refused.append(line)
            files.append(named(a, "not read: " + line))
            continue
        files.append(
            NewAttachment(
                channel=stored.channel,
                name=a.name,
                kind=ready.kind,
                media_type=ready.media_type,
                data=ready.data,
                author_name=a.author_name or stored.author_name,
                created_at=stored.created_at,
                width=ready.width,
                height=ready.height,
                note=ready.note,
            )
        )
    return Kept(files, uploads, refused)


async def prepare_upload(
    channel: str, author_name: str, name: str, data: bytes, limits: FileLimits
) -> NewAttachment:
    """A file someone uploads (the web chat) before sending it with a message. FileRefused."""
    ready = await asyncio.to_thread(prepare_file, name, data, limits)
    return NewAttachment(
        channel=channel,
        name=name,
        kind=ready.kind,
        media_type=ready.media_type,
        data=ready.data,
        author_name=author_name,
        created_at=utcnow(),
        width=ready.width,
        height=ready.height,
        note=ready.note,
    )


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name fit to show and store: no path, no control characters, at most 120 chars."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or fallback
