"""Fakes of the core's ports, for the core's own fast tests (tests/core) and bench/.

Each implements the same Protocol the real part does (bot.memory.Memory, bot.providers.base.
Provider, bot.delivery targets), so a core test exercises exactly the code the service runs;
the real parts are tested against real wire protocols elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from bot.context import ModelRequest
from bot.delivery import ReplyMeta, StreamEnded
from bot.errors import ProviderError
from bot.memory import MemoryUnavailable
from bot.providers.base import DeltaSink, ModelReply
from bot.tools.base import Source, ToolCall, ToolResult, ToolStatus
from bot.types import (
    ChannelKey,
    ChannelSettings,
    ChannelState,
    CounterKey,
    DaySpend,
    FailedTurn,
    MemoryStats,
    NewAttachment,
    NewMessage,
    StoredAttachment,
    StoredMessage,
    Summary,
    TurnRead,
    Usage,
    UsageTotal,
)

# -- memory ------------------------------------------------------------------------------------


class InMemoryStore:
    """bot.memory.Memory in a dict. `down = True` makes every call raise MemoryUnavailable."""

    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []
        self.states: dict[ChannelKey, ChannelState] = {}
        self.summaries: list[Summary] = []
        self.tool_calls: list[tuple[ChannelKey, int | None, str, ToolResult]] = []
        # Spending counters by (key, day): [tokens, cost, answers]; the console's settings.
        self.counters: dict[tuple[CounterKey, date], list[Any]] = {}
        self.settings: dict[ChannelKey, ChannelSettings] = {}
        self.failures: list[FailedTurn] = []
        self.down = False
        self._ids = itertools.count(1)
        self._seen: set[tuple[str, str]] = set()
        self.files: dict[str, StoredAttachment] = {}  # by id, in insertion order
        self.blobs: dict[str, bytes] = {}

    def _check(self) -> None:
        if self.down:
            raise MemoryUnavailable("the fake store is down")

    async def add(self, message: NewMessage) -> StoredMessage | None:
        self._check()
        if message.platform_message_id is not None:
            key = (message.platform, message.platform_message_id)
            if key in self._seen:
                return None
            self._seen.add(key)
        stored = StoredMessage(id=next(self._ids), **_fields(message))
        self.messages.append(stored)
        if message.charge is not None:
            u = message.usage
            for counter in message.charge.keys:
                row = self.counters.setdefault((counter, message.charge.day), [0, 0.0, 0])
                row[0] += u.total_tokens if u else 0
                row[1] += (u.cost_usd or 0.0) if u else 0.0
                row[2] += 1
        return stored

    async def recent(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        after_id: int = 0,
        up_to_id: int | None = None,
    ) -> list[StoredMessage]:
        self._check()
        top = up_to_id if up_to_id is not None else 2**62
        found = [m for m in self.messages if m.channel == channel and after_id < m.id <= top]
        return found[-limit:] if limit > 0 else []

    async def state(self, channel: ChannelKey) -> ChannelState:
        self._check()
        return self.states.get(channel, ChannelState(channel=channel))

    async def context(
        self,
        channel: ChannelKey,
        limit: int,
        *,
        up_to_id: int,
        author_id: str | None = None,
        summary_scope: str | None = None,
    ) -> TurnRead:
        state = await self.state(channel)
        found = [
            m
            for m in self.messages
            if m.channel == channel
            and state.reset_after_id < m.id <= up_to_id
            and (author_id is None or author_id in (m.author_id, m.asker_id))
        ]
        history = found[-limit:] if limit > 0 else []
        mine = [s for s in self.summaries if s.channel == channel and s.scope == summary_scope]
        summary = mine[-1] if mine else None
        return TurnRead(state, history, summary, await self.files_of([m.id for m in history]))

    async def save_chain(
        self, channel: ChannelKey, response_id: str | None, message_id: int | None
    ) -> None:
        self._check()
        state = await self.state(channel)
        self.states[channel] = replace(
            state, response_id=response_id, response_message_id=message_id
        )

    async def reset(self, channel: ChannelKey, up_to_id: int) -> None:
        self._check()
        state = await self.state(channel)
        self.states[channel] = replace(
            state, reset_after_id=up_to_id, response_id=None, response_message_id=None
        )

    async def forget(self, channel: ChannelKey, up_to_id: int) -> int:
        self._check()
        kept = [m for m in self.messages if not (m.channel == channel and m.id <= up_to_id)]
        gone = len(self.messages) - len(kept)
        self.messages = kept
        self._drop_files(
            lambda f: f.channel == channel and (f.message_id is None or f.message_id <= up_to_id)
        )
        return gone

    def _drop_files(self, which: Callable[[StoredAttachment], bool]) -> None:
        for attachment_id in [i for i, f in self.files.items() if which(f)]:
            del self.files[attachment_id]
            self.blobs.pop(attachment_id, None)

    async def edit(self, platform: str, platform_message_id: str, text: str) -> bool:
        self._check()
        for i, m in enumerate(self.messages):
            if (m.platform, m.platform_message_id) == (platform, platform_message_id):
                self.messages[i] = replace(m, text=text)
                return True
        return False

    async def delete(self, platform: str, platform_message_ids: Sequence[str]) -> int:
        self._check()
        gone = {(platform, i) for i in platform_message_ids}
        kept = [m for m in self.messages if (m.platform, m.platform_message_id) not in gone]
        ids = {m.id for m in self.messages if (m.platform, m.platform_message_id) in gone}
        count = len(self.messages) - len(kept)
        self.messages = kept
        self._drop_files(lambda f: f.message_id in ids)
        return count

    # -- long memory (naive: a word shared is a match; the real index is memory/search_index) --

    def _recallable(
        self, channel: ChannelKey, after_id: int, before_id: int, author_id: str | None
    ) -> list[StoredMessage]:
        return [
            m
            for m in self.messages
            if m.channel == channel
            and after_id < m.id < before_id
            and not m.flagged
            and m.command is None
            and (author_id is None or author_id in (m.author_id, m.asker_id))
        ]

    async def forget_author(self, channel: ChannelKey, author_id: str) -> int:
        self._check()
        kept = [
            m
            for m in self.messages
            if not (m.channel == channel and m.author_id == author_id and m.role == "user")
        ]
        gone = len(self.messages) - len(kept)
        self.messages = kept
        self.summaries = [s for s in self.summaries if s.channel != channel]
        self.tool_calls = [t for t in self.tool_calls if (t[0], t[2]) != (channel, author_id)]
        return gone

    async def recall(
        self,
        channel: ChannelKey,
        question: str,
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        self._check()
        asked = set(re.findall(r"\w{4,}", question.lower()))
        found = [
            (len(asked & set(re.findall(r"\w{4,}", m.text.lower()))), m)
            for m in self._recallable(channel, after_id, before_id, author_id)
        ]
        found = [(n, m) for n, m in found if n]
        found.sort(key=lambda f: (-f[0], -f[1].id))
        return [m for _, m in found[:limit]]

    async def nearest(
        self,
        channel: ChannelKey,
        model: str,
        vector: Sequence[float],
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        self._check()
        return []  # the fake keeps no vectors

    async def summary(self, channel: ChannelKey, scope: str = "") -> Summary | None:
        self._check()
        mine = [s for s in self.summaries if s.channel == channel and s.scope == scope]
        return mine[-1] if mine else None

    async def save_summary(self, summary: Summary) -> None:
        self._check()
        self.summaries.append(replace(summary, id=len(self.summaries) + 1))

    async def following(
        self,
        channel: ChannelKey,
        *,
        after_id: int,
        before_id: int,
        limit: int,
        author_id: str | None = None,
    ) -> list[StoredMessage]:
        self._check()
        return self._recallable(channel, after_id, before_id, author_id)[:limit]

    async def unembedded(self, model: str, limit: int) -> list[StoredMessage]:
        return []

    async def save_embeddings(
        self, model: str, vectors: Sequence[tuple[StoredMessage, bytes]]
    ) -> None:
        return None

    async def stats(self, channel: ChannelKey) -> MemoryStats:
        self._check()
        mine = [m for m in self.messages if m.channel == channel]
        contexts = [m.context for m in mine if m.role == "assistant" and m.context]
        return MemoryStats(messages=len(mine), last_context=contexts[-1] if contexts else None)

    async def add_files(
        self, message_id: int | None, files: Sequence[NewAttachment]
    ) -> list[StoredAttachment]:
        self._check()
        out = []
        for f in files:
            stored = StoredAttachment(
                id=uuid.uuid4().hex,
                channel=f.channel,
                message_id=message_id,
                name=f.name,
                kind=f.kind,
                media_type=f.media_type,
                size=len(f.data or b""),
                author_name=f.author_name,
                created_at=f.created_at,
                width=f.width,
                height=f.height,
                note=f.note,
            )
            self.files[stored.id] = stored
            if f.data is not None:
                self.blobs[stored.id] = f.data
            out.append(stored)
        return out

    async def link_uploads(
        self, channel: ChannelKey, upload_ids: Sequence[str], author_name: str, message_id: int
    ) -> list[StoredAttachment]:
        self._check()
        out = []
        for attachment_id in dict.fromkeys(upload_ids):
            f = self.files.get(attachment_id)
            if f is None or f.message_id is not None:
                continue
            if f.channel != channel or f.author_name != author_name:
                continue
            self.files[attachment_id] = f = replace(f, message_id=message_id)
            out.append(f)
        return out

    async def files_of(self, message_ids: Sequence[int]) -> dict[int, list[StoredAttachment]]:
        self._check()
        wanted = set(message_ids)
        found: dict[int, list[StoredAttachment]] = {}
        for f in self.files.values():
            if f.message_id in wanted:
                found.setdefault(f.message_id, []).append(f)
        return found

    async def file(self, attachment_id: str) -> StoredAttachment | None:
        self._check()
        return self.files.get(attachment_id)

    async def file_data(self, attachment_id: str) -> bytes | None:
        self._check()
        return self.blobs.get(attachment_id)

    async def save_tool_calls(
        self,
        channel: ChannelKey,
        message_id: int | None,
        asker_id: str,
        results: Sequence[ToolResult],
    ) -> None:
        self._check()
        self.tool_calls += [(channel, message_id, asker_id, r) for r in results]

    async def tool_usage(
        self, channel: ChannelKey, since: datetime | None = None
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c, _, _, r in self.tool_calls:
            if c == channel:
                counts[r.call.name] = counts.get(r.call.name, 0) + 1
        return counts

    async def usage(self, channel: ChannelKey, since: datetime | None = None) -> list[UsageTotal]:
        self._check()
        totals: dict[tuple[str, str], list[Any]] = {}
        for m in self.messages:
            if m.channel != channel or m.usage is None or not m.usage.model:
                continue
            if since is not None and m.created_at < since:
                continue
            t = totals.setdefault((m.usage.model, m.usage.provider), [0, 0, 0, 0, 0.0])
            t[0] += 1
            t[1] += m.usage.input_tokens
            t[2] += m.usage.output_tokens
            t[3] += m.usage.total_tokens
            t[4] += m.usage.cost_usd or 0.0
        return [
            UsageTotal(model, provider, *counts)
            for (model, provider), counts in sorted(totals.items())
        ]

    async def spent(self, keys: Sequence[CounterKey], since: date) -> list[DaySpend]:
        self._check()
        wanted = set(keys)
        return [
            DaySpend(key, day, row[0], row[1], row[2])
            for (key, day), row in self.counters.items()
            if key in wanted and day >= since
        ]

    async def channel_settings(self) -> list[ChannelSettings]:
        self._check()
        return list(self.settings.values())

    async def save_channel_settings(self, settings: ChannelSettings) -> None:
        self._check()
        if settings.persona is None and settings.system_prompt is None and settings.limits is None:
            self.settings.pop(settings.channel, None)
        else:
            self.settings[settings.channel] = settings

    async def record_failure(self, failure: FailedTurn) -> None:
        self._check()
        self.failures.append(failure)


def _fields(message: NewMessage) -> dict[str, Any]:
    skip = {"charge"}  # what memory does with a message, not part of it
    return {n: getattr(message, n) for n in NewMessage.__dataclass_fields__ if n not in skip}


# -- providers ---------------------------------------------------------------------------------


@dataclass
class Say:
    """A scripted answer: streamed in `chunks` (default: the whole text at once)."""

    text: str
    chunks: list[str] | None = None
    usage: Usage = field(default_factory=lambda: Usage(11, 7, 18, "fake-model", "fake"))
    delay: float = 0.0
    response_id: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # asks for these (after `text`)
    sources: list[Source] = field(default_factory=list)  # hosted web search's pages


def ask_tools(*calls: tuple[str, str], text: str = "") -> Say:
    """A round that asks for tools: (name, arguments as JSON text) each."""
    return Say(
        text,
        chunks=[text] if text else [],
        tool_calls=[ToolCall(f"call_{i}", name, args) for i, (name, args) in enumerate(calls)],
    )


Script = Say | ProviderError | BaseException


class FakeProvider:
    """bot.providers.base.Provider playing a script: answers, ProviderErrors, or bugs."""

    def __init__(self, *script: Script, name: str = "openai", chains: bool = False):
        self.name = name
        self.chains = chains
        self.script: deque[Script] = deque(script)
        self.default: Callable[[ModelRequest], Script] = lambda request: Say("ok")
        self.requests: list[ModelRequest] = []

    def then(self, *script: Script) -> FakeProvider:
        self.script.extend(script)
        return self

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        self.requests.append(request)
        step = self.script.popleft() if self.script else self.default(request)
        if isinstance(step, BaseException):
            raise step
        if step.delay:
            await asyncio.sleep(step.delay)
        for piece in step.chunks if step.chunks is not None else [step.text]:
            await on_delta(piece)
        return ModelReply(
            text=step.text,
            usage=step.usage,
            response_id=step.response_id,
            tool_calls=list(step.tool_calls),
            sources=list(step.sources),
        )


# -- reply targets -----------------------------------------------------------------------------


@dataclass
class Sent:
    kind: str  # "send", "edit", "notice", "stream", "close"
    text: str
    meta: ReplyMeta


class RecordingTarget:
    """A ReplyTarget that only sends (no edits, no stream): what it was handed, in order."""

    max_length = 2000

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.done = asyncio.Event()

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, text: str, meta: ReplyMeta) -> int:
        self.sent.append(Sent("send", text, meta))
        self.done.set()
        return len(self.sent)

    def texts(self) -> list[str]:
        return [s.text for s in self.sent]


class EditingTarget(RecordingTarget):
    """Also edits (Discord's shape): the core's placeholder-and-edit policy applies."""

    async def edit(self, handle: Any, text: str, meta: ReplyMeta) -> None:
        self.sent.append(Sent("edit", text, meta))


class NoticeTarget(RecordingTarget):
    """Also tells the sender privately (the web chat's shape for refused messages)."""

    async def notice(self, text: str, meta: ReplyMeta) -> None:
        self.sent.append(Sent("notice", text, meta))
        self.done.set()


class FakeStream:
    def __init__(self, target: StreamingTarget, meta: ReplyMeta):
        self.target, self.meta = target, meta

    async def append(self, delta: str) -> None:
        if (
            self.target.refuse_after is not None
            and self.target.appended >= self.target.refuse_after
        ):
            raise StreamEnded(handle="streamed", shown="".join(self.target.pieces))
        self.target.appended += 1
        self.target.pieces.append(delta)
        self.target.sent.append(Sent("stream", delta, self.meta))

    async def close(self, text: str, meta: ReplyMeta) -> None:
        self.target.sent.append(Sent("close", text, meta))
        self.target.done.set()


class StreamingTarget(EditingTarget):
    """Streams natively (Slack's shape); `refuse_after=n` ends the stream after n pieces."""

    def __init__(self, refuse_after: int | None = None) -> None:
        super().__init__()
        self.refuse_after = refuse_after
        self.appended = 0
        self.pieces: list[str] = []

    async def open_stream(self, meta: ReplyMeta) -> FakeStream:
        return FakeStream(self, meta)


class StatusStream(FakeStream):
    async def tool_status(self, status: ToolStatus) -> None:
        state = "failed" if status.failed else "done" if status.done else "running"
        self.target.sent.append(Sent("tool", f"{state}: {status.label}", self.meta))


class StatusStreamingTarget(StreamingTarget):
    """Streams, and shows tool status in its stream (the web chat's and Slack's shape)."""

    async def open_stream(self, meta: ReplyMeta) -> FakeStream:
        return StatusStream(self, meta)


class StatusLineTarget(EditingTarget):
    """Edits, with its own status line (Discord's `-#`)."""

    def status_line(self, label: str) -> str:
        return f"-# {label}"
