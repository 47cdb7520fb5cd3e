"""How an answer reaches a platform: the adapter declares capabilities, the core picks the policy.

- native streaming (web delta frames, Slack's stream API): pass deltas through;
- edit only (Discord, Slack fallback): post a placeholder, edit at most every `edit_interval`
  seconds and only when the text changed, always send the final text;
- neither: one send at the end.
Every part sent respects the target's length limit (bot/splitting.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.errors import ErrorKind
from bot.splitting import split_message
from bot.text import StreamRepair, repair

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


@runtime_checkable
class NativeStream(Protocol):
    async def append(self, delta: str) -> None: ...

    async def close(self, text: str, meta: ReplyMeta) -> None: ...


@runtime_checkable
class NativeStreamTarget(ReplyTarget, Protocol):
    async def open_stream(self, meta: ReplyMeta) -> NativeStream: ...


@runtime_checkable
class TypingTarget(Protocol):
    def typing(self, persona: str) -> AbstractAsyncContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    native_stream: bool
    editable: bool
    typing: bool


_capabilities: dict[type, Capabilities] = {}


def capabilities(target: ReplyTarget) -> Capabilities:
    """What a target can do, worked out once per target class: an isinstance check against a
    runtime Protocol walks all its members, which a burst of turns notices."""
    kind = type(target)
    found = _capabilities.get(kind)
    if found is None:
        found = _capabilities[kind] = Capabilities(
            native_stream=isinstance(target, NativeStreamTarget),
            editable=isinstance(target, EditableTarget),
            typing=isinstance(target, TypingTarget),
        )
    return found


def typing_of(target: ReplyTarget, persona: str) -> AbstractAsyncContextManager[None]:
    """Shows "<persona> is typing" while the model works, where the platform has it."""
    if capabilities(target).typing:
        return target.typing(persona)  # type: ignore[attr-defined]
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
        self._stream: NativeStream | None = None
        self._handle: Any = None
        self._shown = ""
        self._last_edit = float("-inf")
        self._broken = False  # the target failed: stop streaming, still try the final send

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
            if self.can.native_stream:
                if self._stream is None:
                    self._stream = await self.target.open_stream(self.meta)  # type: ignore[attr-defined]
                await self._stream.append(delta)
                self.streamed = True
            elif self.can.editable:
                await self._maybe_edit()
        except Exception:
            log.exception("streaming to the platform failed; the final text will still be sent")
            self._broken = True

    async def _maybe_edit(self) -> None:
        now = self.clock()
        if now - self._last_edit < self.edit_interval:
            return
        preview = self._parts(self.text + " …")[0]
        if preview == self._shown:
            return
        self._last_edit = now
        if self._handle is None:
            self._handle = await self.target.send(preview, self.meta)
        else:
            await self.target.edit(self._handle, preview, self.meta)  # type: ignore[attr-defined]
        self._shown = preview
        self.streamed = True

    async def finish(self, text: str, message_id: int | None, timestamp: datetime | None) -> None:
        meta = replace(self.meta, message_id=message_id, timestamp=timestamp)
        await self._final(text, meta)

    async def fail(self, line: str, kind: ErrorKind) -> None:
        await self._final(line, replace(self.meta, error=kind))

    async def _final(self, text: str, meta: ReplyMeta) -> None:
        self.finished = True
        text = repair(text)
        try:
            if self._stream is not None:
                await self._stream.close(text, meta)
                return
            parts = self._parts(text)
            if self._handle is not None and self.can.editable:
                if parts[0] != self._shown:
                    await self.target.edit(self._handle, parts[0], meta)  # type: ignore[attr-defined]
                parts = parts[1:]
            for part in parts:
                await self.target.send(part, meta)
        except Exception:
            log.exception("delivering the final answer failed (the answer is stored)")
