"""Long memory: the channel's summary and the older messages recalled for a question.

What the model sees on a turn, within one token budget, in this order: the persona's system
prompt; the channel's summary (a rolling digest of what slid out of the recent window); the few
older messages most relevant to the question, found by search over the channel's whole history
and marked as recalled; the recent window. The recent window keeps a guaranteed share of the
budget for the newest turns; summary and recall each have a cap (bot/settings.py
MemorySettings). Everything here is derived from the transcript, which is never changed.

Summaries are written by a model in the background, one task per channel at a time, never on a
turn's path: after a turn, `Summarizer.poke` says how far the recent window reached, and once
`summarise_after` messages older than that are not yet summarised, the summary is brought up to
date in batches. A failed update is logged and tried again after a pause.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.context import ChatTurn, ModelRequest
from bot.errors import ProviderError
from bot.memory import Memory, MemoryUnavailable
from bot.providers.base import Embedder, Provider, ignore_delta
from bot.settings import MemorySettings, ModelSettings
from bot.types import ChannelKey, StoredMessage, Summary, utcnow

log = logging.getLogger(__name__)

SUMMARY_PROMPT = """You keep the memory of a group chat. You get the current summary (possibly
empty) and the messages that followed it, as `[date] name: text`, oldest first. Write the new
summary: everything in the old one that still matters, updated with the new messages. Keep who
said what when it matters, decisions and their dates, facts people told about themselves (names,
preferences, roles), plans and deadlines, and open questions. Write it as short bullet points in
the language most of the chat uses. Never invent anything. At most 300 words."""

RETRY_AFTER = 60.0  # seconds before a failed summary update is tried again
MAX_BATCHES = 20  # summary updates per poke, at most: a channel catching up yields now and then


def scope_key(scope: str, author_id: str) -> str:
    """Summaries of shared memory are the room's (""); of per-member memory, the person's."""
    return author_id if scope == "member" else ""


def said_line(message: StoredMessage) -> str:
    return f"[{message.created_at:%Y-%m-%d %H:%M}] {message.author_name}: {message.text}"


@dataclass(frozen=True, slots=True)
class MemoryParts:
    """What long memory adds to a turn, and what each part cost in tokens."""

    summary: Summary | None = None
    summary_text: str = ""
    recalled: tuple[StoredMessage, ...] = ()
    recalled_text: str = ""
    summary_tokens: int = 0
    recall_tokens: int = 0

    def block(self) -> str:
        """The text that follows the system prompt."""
        parts = [p for p in (self.summary_text, self.recalled_text) if p]
        return "\n\n".join(parts)


def summary_part(
    summary: Summary | None, reset_after_id: int, cap: int, count: Callable[[str], int]
) -> tuple[str, int]:
    if summary is None or summary.covers_up_to_id <= reset_after_id:
        return "", 0  # none yet, or from before a reset: forgotten by the model
    text = summary.text.strip()
    while text and count(text) > cap:
        text = text[: int(len(text) * 0.8)].rsplit("\n", 1)[0]
    if not text:
        return "", 0
    block = (
        f"Earlier in this conversation (a summary of {summary.covers_messages:,} older messages, "
        f"up to {summary.created_at:%Y-%m-%d}; it may miss details):\n{text}"
    )
    return block, count(block)


def recall_part(
    recalled: Sequence[StoredMessage], cap: int, count: Callable[[str], int]
) -> tuple[tuple[StoredMessage, ...], str, int]:
    """The recalled messages that fit in `cap`, best first, shown oldest first."""
    header = (
        "Older messages recalled from this channel's history because they may matter for the "
        "question (they are old: the date says when they were said):"
    )
    kept: list[StoredMessage] = []
    used = count(header)
    for message in recalled:
        cost = count(said_line(message))
        if used + cost > cap:
            continue
        kept.append(message)
        used += cost
    if not kept:
        return (), "", 0
    kept.sort(key=lambda m: m.id)
    block = "\n".join([header, *(said_line(m) for m in kept)])
    return tuple(kept), block, count(block)


def context_record(
    budget: int, system: int, parts: MemoryParts, recent_tokens: int, recent_turns: int
) -> str:
    """What a stored answer keeps of its context, for `@chatbot memory`."""
    return json.dumps(
        {
            "budget": budget,
            "system": system,
            "summary": parts.summary_tokens,
            "recall": parts.recall_tokens,
            "recalled": [m.id for m in parts.recalled],
            "recent": recent_tokens,
            "recent_turns": recent_turns,
        }
    )


class Summarizer:
    """Brings channels' summaries up to date in the background, one task per channel."""

    def __init__(
        self,
        memory: Memory,
        provider_for: Callable[[str], Provider],
        settings: MemorySettings,
    ):
        self.memory = memory
        self.provider_for = provider_for
        self.settings = settings
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._failed_at: dict[tuple[str, str], float] = {}

    def poke(
        self,
        channel: ChannelKey,
        scope: str,
        *,
        before_id: int,
        reset_after_id: int,
        model: ModelSettings,
        covered: int | None = None,
    ) -> None:
        """Messages before `before_id` have left the recent window: summarise them when enough
        have piled up. Returns at once; at most one update runs per (channel, scope).

        `covered`, when the caller knows it, is where the current summary ends: ids grow by one
        per stored message, so fewer ids than `summarise_after` between it and the window mean
        fewer messages, and there is nothing to look at yet.
        """
        if not self.settings.summaries:
            return
        start = max(covered or 0, reset_after_id)
        if covered is not None and before_id - start <= self.settings.summarise_after:
            return
        key = (channel, scope)
        running = self._running.get(key)
        if running is not None and not running.done():
            return
        if time.monotonic() - self._failed_at.get(key, float("-inf")) < RETRY_AFTER:
            return
        task = asyncio.create_task(self._update(key, before_id, reset_after_id, model))
        self._running[key] = task
        task.add_done_callback(functools.partial(self._done, key))

    def _done(self, key: tuple[str, str], _: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    async def idle(self) -> None:
        """Until every update in flight has ended (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await self.idle()

    async def _update(
        self, key: tuple[str, str], before_id: int, reset_after_id: int, model: ModelSettings
    ) -> None:
        channel, scope = key
        author = scope or None
        try:
            for _ in range(MAX_BATCHES):
                current = await self.memory.summary(channel, scope)
                if current is not None and current.covers_up_to_id <= reset_after_id:
                    current = None  # a reset: the new summary starts after it
                start = max(reset_after_id, current.covers_up_to_id if current else 0)
                if current is None:
                    start = await self._backfill_start(channel, start, before_id)
                batch = await self.memory.following(
                    channel,
                    after_id=start,
                    before_id=before_id,
                    limit=self.settings.summary_batch,
                    author_id=author,
                )
                if len(batch) < self.settings.summarise_after:
                    return
                await self.memory.save_summary(
                    await self._summarise(channel, scope, current, batch, model)
                )
        except (ProviderError, MemoryUnavailable) as exc:
            self._failed_at[key] = time.monotonic()
            log.warning("summary of %s not updated (%s); trying again later", channel, exc)
        except Exception:
            self._failed_at[key] = time.monotonic()
            log.exception("summary of %s not updated; trying again later", channel)

    async def _backfill_start(self, channel: ChannelKey, start: int, before_id: int) -> int:
        """Where a first summary starts: at most `summary_backfill` messages before the window."""
        newest = await self.memory.recent(
            channel, self.settings.summary_backfill, after_id=start, up_to_id=before_id - 1
        )
        if len(newest) < self.settings.summary_backfill:
            return start
        return newest[0].id - 1

    async def _summarise(
        self,
        channel: ChannelKey,
        scope: str,
        current: Summary | None,
        batch: Sequence[StoredMessage],
        model: ModelSettings,
    ) -> Summary:
        s = self.settings
        settings = replace(
            model,
            provider=s.summary_provider or model.provider,
            model=s.summary_model or model.model,
            temperature=0.2,
            max_output_tokens=800,
        )
        earlier = current.text if current else "(none yet)"
        said = "\n".join(said_line(m) for m in batch)
        request = ModelRequest(
            channel=channel,
            system=SUMMARY_PROMPT,
            turns=[
                ChatTurn(
                    "user", f"Current summary:\n{earlier}\n\nThe messages that followed:\n{said}"
                )
            ],
            settings=settings,
        )
        reply = await self.provider_for(settings.provider).complete(request, ignore_delta)
        return Summary(
            channel=channel,
            scope=scope,
            covers_up_to_id=batch[-1].id,
            covers_messages=(current.covers_messages if current else 0) + len(batch),
            text=reply.text.strip(),
            model=reply.usage.model or settings.model,
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            created_at=utcnow(),
        )


class EmbeddingWorker:
    """Embeds stored messages in the background, in batches (CHATBOT_EMBEDDING_MODEL). A
    message not embedded yet is still found by full-text recall."""

    BATCH = 64

    def __init__(self, memory: Memory, embedder: Embedder):
        self.memory = memory
        self.embedder = embedder
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._failed_at = float("-inf")

    def poke(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        if time.monotonic() - self._failed_at < RETRY_AFTER:
            return
        self._task = asyncio.create_task(self._run())

    async def idle(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.idle()

    async def _run(self) -> None:
        import array

        try:
            while True:
                self._again = False
                todo = await self.memory.unembedded(self.embedder.model, self.BATCH)
                if not todo:
                    if not self._again:
                        return
                    continue
                vectors = await self.embedder.embed([m.text for m in todo])
                packed = [
                    (m, array.array("f", v).tobytes()) for m, v in zip(todo, vectors, strict=True)
                ]
                await self.memory.save_embeddings(self.embedder.model, packed)
        except (ProviderError, MemoryUnavailable) as exc:
            self._failed_at = time.monotonic()
            log.warning("embedding messages failed (%s); trying again later", exc)
        except Exception:
            self._failed_at = time.monotonic()
            log.exception("embedding messages failed; trying again later")
