"""How an answer reaches a platform: the adapter declares capabilities, the core picks the policy.

- native streaming (web delta frames, Slack's stream API): pass deltas through while the text
  fits in one message; when the platform refuses or ends the stream (`StreamEnded`), carry on
  by editing, as below;
- edit only (Discord, Slack fallback): post a placeholder, edit at most every `edit_interval`
  seconds and only when the text changed, always send the final text;
- neither: one send at the end.
Every part sent respects the target's length limit (bot/splitting.py); what does not fit in the
first message follows as further messages. A target that can `notice` tells one person
something (a refused message) without telling the room. A `paced` target says when a streaming
update would go over the platform's rate limit (shared by every answer in a Discord channel):
that update is skipped, never the final text. While tools run (bot/tools/loop.py) a stream that
can shows it its own way (Slack's task cards, the web chat's tool frames); an edited reply shows
a small status line under its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable

from bot.errors import ErrorKind
from bot.splitting import split_message
from bot.text import StreamRepair, repair
from bot.tools.base import ToolStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplyMeta:
    persona: str  # which tag answered
    message_id: int | None = None  # the stored answer's id, once stored
    timestamp: datetime | None = None
    error: ErrorKind | None = None  # set on error lines, so a platform can style them


@runtime_checkable
class ReplyTarget(Protocol):
    """The one required capability: send a message. Returns a handle for editing."""

    max_length: int

    def measure(self, text: str) -> int: ...

    async def send(self, text: str, meta: ReplyMeta) -> Any: ...


@runtime_checkable
class EditableTarget(ReplyTarget, Protocol):
    async def edit(self, handle: Any, text: str, meta: ReplyMeta) -> None: ...


class StreamEnded(Exception):
    """The platform refused to start a stream, or ended it early: continue by editing.

    `handle` is the message the stream left behind (None if there is none) and `shown` what it
    shows, so the edits take over from there.
    """

    def __init__(self, handle: Any = None, shown: str = ""):
        super().__init__("the platform ended the stream")
        self.handle = handle
        self.shown = shown


@runtime_checkable
class NativeStream(Protocol):
    async def append(self, delta: str) -> None:
        """Show one more piece. Raises StreamEnded when the platform will not take more."""
        ...

    async def close(self, text: str, meta: ReplyMeta) -> None:
        """End the stream showing `text`: the answer's first part, or an error line.

        Raises StreamEnded when the platform no longer knows the stream.
        """
        ...


@runtime_checkable
class StatusStream(Protocol):
    async def tool_status(self, status: ToolStatus) -> None:
        """Show that tools run (or are done) in the stream: Slack's task cards, the web chat's
        tool frames. Raises StreamEnded when the platform will not take it."""
        ...


@runtime_checkable
class StatusLineTarget(Protocol):
    def status_line(self, label: str) -> str:
        """The small line an edited reply shows under its text while a tool runs
        (Discord's `-# …` subtext)."""
        ...


@runtime_checkable
class NativeStreamTarget(ReplyTarget, Protocol):
    async def open_stream(self, meta: ReplyMeta) -> NativeStream: ...


@runtime_checkable
class TypingTarget(Protocol):
    def typing(self, persona: str) -> AbstractAsyncContextManager[None]: ...


@runtime_checkable
class PacedTarget(Protocol):
    def may_update(self) -> bool:
        """Whether a streaming update (the placeholder, an edit) fits the platform's rate limit
        now. Answers that share a limit (Discord: a channel's) share this budget; when it says
        no the update is skipped, and the final text is always sent."""
        ...


@runtime_checkable
class NoticeTarget(Protocol):
    async def notice(self, text: str, meta: ReplyMeta) -> None:
        """Tell only the person who sent the message (an error frame, an ephemeral post)."""
        ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    native_stream: bool
    editable: bool
    typing: bool
    notice: bool
    paced: bool


_capabilities: dict[type, Capabilities] = {}

STATUS_RETRY = 0.5  # seconds between tries at a status line the platform's budget held back

# Streamed text stops this far below the limit: the platform's own markup needs a little room.
STREAM_MARGIN = 8


def capabilities(target: object) -> Capabilities:
    """What a target can do, worked out once per target class: an isinstance check against a
    runtime Protocol walks all its members, which a burst of turns notices."""
    kind = type(target)
    found = _capabilities.get(kind)
    if found is None:
        found = _capabilities[kind] = Capabilities(
            native_stream=isinstance(target, NativeStreamTarget),
            editable=isinstance(target, EditableTarget),
            typing=isinstance(target, TypingTarget),
            notice=isinstance(target, NoticeTarget),
            paced=isinstance(target, PacedTarget),
        )
    return found


def typing_of(target: ReplyTarget, persona: str) -> AbstractAsyncContextManager[None]:
    """Shows "<persona> is typing" while the model works, where the platform has it."""
    if capabilities(target).typing:
        return cast(TypingTarget, target).typing(persona)
    return contextlib.nullcontext()


class Delivery:
    """One answer on its way to one target. Target errors are logged, never raised."""

    def __init__(
        self,
        target: ReplyTarget,
        persona: str,
        *,
        edit_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.target = target
        self.can = capabilities(target)
        self.meta = ReplyMeta(persona=persona)
        self.edit_interval = edit_interval
        self.clock = clock
        self.text = ""
        self.streamed = False  # True once any delta reached the platform
        self.finished = False  # the final text (or an error line) was handed to the target
        self._repair = StreamRepair()  # a delta may end in half of a surrogate pair
        self._native = self.can.native_stream  # False once the platform ended its stream
        self._stream: NativeStream | None = None
        self._full = False  # the stream holds all one message can; the rest comes at the end
        self._handle: Any = None
        self._shown = ""
        self._last_edit = float("-inf")
        self._broken = False  # the target failed: stop streaming, still try the final send
        self._pending_status: str | None = None  # a tool's status line not shown yet
        self._status_later: asyncio.Task[None] | None = None

    def _parts(self, text: str) -> list[str]:
        return split_message(text, self.target.max_length, self.target.measure)

    async def on_delta(self, delta: str) -> None:
        delta = self._repair.feed(delta)
        if not delta:
            return
        self.text += delta
        if self._broken:
            return
        try:
            if self._native:
                await self._stream_delta(delta)
            elif self.can.editable:
                await self._maybe_edit()
        except Exception:
            log.exception("streaming to the platform failed; the final text will still be sent")
            self._broken = True

    async def _stream_delta(self, delta: str) -> None:
        if self._full:
            return
        if self.target.measure(self.text) > self.target.max_length - STREAM_MARGIN:
            self._full = True  # what does not fit follows as further messages at the end
            return
        try:
            if self._stream is None:
                target = cast(NativeStreamTarget, self.target)
                self._stream = await target.open_stream(self.meta)
            await self._stream.append(delta)
        except StreamEnded as ended:
            self._take_over(ended)
            if self.can.editable:
                await self._maybe_edit()
            return
        self.streamed = True

    def _take_over(self, ended: StreamEnded) -> None:
        """The stream is gone: its message (if any) becomes the placeholder we edit."""
        log.info("the platform ended a stream; continuing with edits")
        self._native = False
        self._stream = None
        self._handle = ended.handle
        self._shown = ended.shown
        if ended.handle is not None:
            self.streamed = True

    async def _maybe_edit(self) -> None:
        now = self.clock()
        if now - self._last_edit < self.edit_interval:
            return
        preview = self._parts(self.text + " …")[0]
        if preview == self._shown:
            return
        if self.can.paced and not cast(PacedTarget, self.target).may_update():
            return  # the platform's budget is spent: skip this one, try again on the next delta
        self._last_edit = now
        await self._show(preview, self.meta)
        self.streamed = True

    async def tool_status(self, status: ToolStatus) -> None:
        """Tools are running (or done): in the stream where it can show them, else as a status
        line in the edited reply, else not at all (the typing indicator goes on)."""
        if self._broken or self.finished:
            return
        try:
            if self._native:
                if self._stream is None:
                    target = cast(NativeStreamTarget, self.target)
                    self._stream = await target.open_stream(self.meta)
                if isinstance(self._stream, StatusStream):
                    try:
                        await self._stream.tool_status(status)
                        return
                    except StreamEnded as ended:
                        self._take_over(ended)
                else:
                    return
            if not self.can.editable:
                return
            self._pending_status = None if status.done else status.label
            if self._pending_status is not None:
                await self._show_status()
        except Exception:
            log.exception("showing a tool status failed; the answer goes on")

    async def _show_status(self) -> None:
        """The pending status line, now if the platform's budget allows, else as soon as it
        does while the tool still runs (a tool can take seconds; the line is worth the wait)."""
        if self.can.paced and not cast(PacedTarget, self.target).may_update():
            if self._status_later is None:
                self._status_later = asyncio.create_task(self._retry_status())
            return
        label, self._pending_status = self._pending_status, None
        if label is None:
            return
        if isinstance(self.target, StatusLineTarget):
            line = self.target.status_line(label)
        else:
            line = f"_{label}_"
        text = f"{self.text.rstrip()}\n{line}" if self.text.strip() else line
        self._last_edit = self.clock()
        await self._show(self._parts(text)[0], self.meta)
        self.streamed = True

    async def _retry_status(self) -> None:
        try:
            while self._pending_status is not None and not self.finished:
                await asyncio.sleep(STATUS_RETRY)
                if cast(PacedTarget, self.target).may_update():
                    await self._show_status()
        except Exception:
            log.exception("showing a tool status failed; the answer goes on")
        finally:
            self._status_later = None

    async def _show(self, text: str, meta: ReplyMeta) -> None:
        """Put `text` in the placeholder, or post it when there is none."""
        if self._handle is None:
            self._handle = await self.target.send(text, meta)
        else:
            await cast(EditableTarget, self.target).edit(self._handle, text, meta)
        self._shown = text

    async def finish(self, text: str, message_id: int | None, timestamp: datetime | None) -> None:
        meta = replace(self.meta, message_id=message_id, timestamp=timestamp)
        await self._final(text, meta)

    async def fail(self, line: str, kind: ErrorKind) -> None:
        await self._final(line, replace(self.meta, error=kind))

    async def notice(self, line: str, kind: ErrorKind) -> None:
        """Tell only the sender where the platform can; else say it where they asked."""
        meta = replace(self.meta, error=kind)
        if not self.can.notice:
            await self._final(line, meta)
            return
        self.finished = True
        try:
            await cast(NoticeTarget, self.target).notice(repair(line), meta)
        except Exception:
            log.exception("telling the sender failed")

    async def _final(self, text: str, meta: ReplyMeta) -> None:
        self.finished = True
        self._pending_status = None
        if self._status_later is not None:  # never a status line edited in after the answer
            self._status_later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_later
        text = repair(text)
        try:
            parts = self._parts(text) if meta.error is None else [text]
            if self._stream is not None:
                try:
                    await self._stream.close(parts[0], meta)
                    parts = parts[1:]
                except StreamEnded as ended:
                    self._take_over(ended)
            if self._handle is not None and self.can.editable and parts:
                if parts[0] != self._shown:
                    await self._show(parts[0], meta)
                parts = parts[1:]
            for part in parts:
                await self.target.send(part, meta)
        except Exception:
            log.exception("delivering the final answer failed (the answer is stored)")
