"""A Slack thread as the core's reply target: send, edit, a native stream, a private notice,
and the loading status while the model works (the core's `typing`).

Every answer goes into the thread of the message that asked (`thread_ts`). The stream uses
`chat.startStream` / `appendStream` / `stopStream`; when Slack refuses to start one, or a stream
expires, the core's Delivery carries on with the same message edited by `chat.update`. A
persona posts, and streams, under its own name and icon where the token may (adapters/slack/
looks.py), else its answers start with its `*name:*` label.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.api import SlackWeb, error_code
from adapters.slack.looks import Look
from adapters.slack.mrkdwn import defuse_markdown, to_mrkdwn
from adapters.slack.place import ThreadPlace
from adapters.slack.status import ThinkingStatus
from bot.delivery import ReplyMeta, StreamEnded
from bot.errors import ErrorKind
from bot.splitting import split_message, utf8_len
from bot.tools.base import ToolStatus

log = logging.getLogger(__name__)

# Slack rejects `text` around 4,000 characters; we split the rendered mrkdwn by bytes, with room
# for the persona label.
MAX_BYTES = 3_500


__all__ = ["SlackStream", "SlackThreadTarget", "ThreadPlace"]


class SlackThreadTarget:
    """Implements ReplyTarget, EditableTarget, NativeStreamTarget, NoticeTarget and TypingTarget
    for one thread."""

    max_length = MAX_BYTES

    def __init__(
        self,
        web: SlackWeb,
        place: ThreadPlace,
        *,
        default_persona: str,
        streaming: bool = True,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        looks: Mapping[str, Look] | None = None,
        customize: bool = False,
        status: ThinkingStatus | None = None,
        title: str | None = None,
    ):
        self.web = web
        self.place = place
        self.default_persona = default_persona
        self.streaming = streaming
        self.flush_interval = flush_interval
        self.clock = clock
        self.looks = looks or {}
        self.customize = customize  # the token has chat:write.customize
        self.status = status  # None: no loading status
        self.title = title  # a new conversation in the agent view: titled when answered

    def look(self, persona: str) -> Look:
        """Who the answer appears to come from (nobody else: the app itself)."""
        return self.looks.get(persona, Look()) if self.customize else Look()

    def posts_as(self, meta: ReplyMeta) -> dict[str, Any]:
        return self.look(meta.persona).params()

    def measure(self, text: str) -> int:
        return utf8_len(to_mrkdwn(text))

    def label(self, meta: ReplyMeta, *, markdown: bool) -> str:
        """The persona's name when it is not the default one; a warning sign on error lines."""
        label = ""
        if meta.error is not None and meta.error is not ErrorKind.USAGE:
            label += "⚠️ "  # a usage hint is help, not a failure (as on Discord)
        if meta.persona != self.default_persona and not self.look(meta.persona).username:
            label += f"**{meta.persona}:** " if markdown else f"*{meta.persona}:* "
        return label

    @contextlib.asynccontextmanager
    async def typing(self, persona: str) -> AsyncIterator[None]:
        """The thread's loading status while the model works, cleared when it has answered."""
        if self.status is None:
            yield
            return
        look = self.look(persona)
        shown = await self.status.show(self.web, self.place, look, self.title)
        try:
            yield
        finally:
            if shown:
                await self.status.clear(self.web, self.place)

    def render(self, text: str, meta: ReplyMeta) -> str:
        body = to_mrkdwn(text)
        if meta.error is not None:
            body = f"_{body}_" if "`" not in body and "\n" not in body else body
        return self.label(meta, markdown=False) + body

    async def send(self, text: str, meta: ReplyMeta) -> str | None:
        """Post one message in the thread; returns its ts (the edit handle)."""
        try:
            data = await self.web.call(
                "chat.postMessage",
                channel=self.place.channel,
                thread_ts=self.place.thread_ts,
                text=self.render(text, meta),
                unfurl_links=False,
                unfurl_media=False,
                **self.posts_as(meta),
            )
        except SlackApiError as exc:
            if self._lost_customize(exc, meta):
                return await self.send(text, meta)
            if error_code(exc) != "msg_too_long":
                raise
            # Our byte estimate was wrong for this text: split it smaller and try again.
            log.warning("slack said msg_too_long for %d bytes; splitting smaller", utf8_len(text))
            first: str | None = None
            for part in split_message(text, max(64, self.max_length // 3), self.measure):
                ts = await self.send(part, meta)
                first = first or ts
            return first
        return str(data.get("ts") or "") or None

    def _lost_customize(self, exc: SlackApiError, meta: ReplyMeta) -> bool:
        """Slack refused the persona's name or icon: carry on as the app, with the label."""
        if error_code(exc) != "missing_scope" or not self.posts_as(meta):
            return False
        log.warning("slack refused a persona's name and icon (missing_scope): using a label")
        self.customize = False
        return True

    async def edit(self, handle: object, text: str, meta: ReplyMeta) -> None:
        if not handle:
            return
        await self.web.call(
            "chat.update", channel=self.place.channel, ts=str(handle), text=self.render(text, meta)
        )

    async def open_stream(self, meta: ReplyMeta) -> SlackStream:
        return SlackStream(self, meta)

    async def notice(self, text: str, meta: ReplyMeta) -> None:
        """Only the sender sees it (`chat.postEphemeral`): a message we could not store."""
        if self.place.user is None:
            await self.send(text, meta)
            return
        await self.web.call(
            "chat.postEphemeral",
            channel=self.place.channel,
            user=self.place.user,
            thread_ts=self.place.thread_ts,
            text=self.render(text, meta),
        )


class SlackStream:
    """One streamed answer through `chat.startStream` / `appendStream` / `stopStream`.

    Appends are batched (at most one every `flush_interval`). When Slack refuses to start a
    stream, or one expires, StreamEnded hands the answer to the core's Delivery, which carries
    on by editing the message the stream left (bot/delivery.py).
    """

    def __init__(self, target: SlackThreadTarget, meta: ReplyMeta):
        self.target = target
        self.meta = meta
        self.ts: str | None = None  # the streamed message
        self.text = ""  # everything the model said so far
        self.streamed = ""  # what reached Slack
        self._last_flush = float("-inf")
        self._tasks = 0  # tool rounds shown as task cards

    @property
    def _place(self) -> ThreadPlace:
        return self.target.place

    async def append(self, delta: str) -> None:
        self.text += delta
        if self.ts is None:
            await self._start()
        else:
            await self._flush(final=False)

    async def _start(self, task: dict[str, Any] | None = None) -> None:
        if not self.target.streaming:
            raise StreamEnded()
        text = self.target.label(self.meta, markdown=True) + defuse_markdown(self.text)
        content: dict[str, Any] = {"markdown_text": text}
        if task is not None:
            # Opened by a tool round: the task card, in Slack's timeline, after any text.
            chunks = [{"type": "markdown_text", "text": text}] if text else []
            content = {"chunks": [*chunks, task], "task_display_mode": "timeline"}
        try:
            data = await self.target.web.call(
                "chat.startStream",
                channel=self._place.channel,
                thread_ts=self._place.thread_ts,
                recipient_team_id=self._place.team,
                recipient_user_id=self._place.user,
                **content,
                **self.target.posts_as(self.meta),
            )
        except SlackApiError as exc:
            if self.target._lost_customize(exc, self.meta):
                await self._start(task)
                return
            log.info("slack refused a stream (%s); falling back to chat.update", error_code(exc))
            raise StreamEnded() from exc
        self.ts = str(data.get("ts") or "") or None
        if self.ts is None:
            raise StreamEnded()
        self.streamed = self.text
        self._last_flush = self.target.clock()

    async def _flush(self, *, final: bool) -> None:
        pending = self.text[len(self.streamed) :]
        if not pending or self.ts is None:
            return
        now = self.target.clock()
        if not final and now - self._last_flush < self.target.flush_interval:
            return
        try:
            await self.target.web.call(
                "chat.appendStream",
                channel=self._place.channel,
                ts=self.ts,
                markdown_text=defuse_markdown(pending),
            )
        except SlackApiError as exc:
            # Expired or refused mid-way: the streamed message becomes the placeholder.
            log.info("slack stream ended early (%s); falling back to chat.update", error_code(exc))
            raise StreamEnded(self.ts, self.streamed) from exc
        self.streamed = self.text
        self._last_flush = now

    async def tool_status(self, status: ToolStatus) -> None:
        """A tool round as a task card (`task_update` chunks): in progress, then complete or
        error. Where Slack refuses them the core shows a status line instead (StreamEnded)."""
        if not status.done:
            self._tasks += 1
        state = "error" if status.failed else "complete" if status.done else "in_progress"
        task = {
            "type": "task_update",
            "id": f"tools-{self._tasks}",
            "title": status.label[:200],
            "status": state,
        }
        if self.ts is None:
            await self._start(task)
            return
        await self._flush(final=True)  # the text so far comes before the card
        try:
            await self.target.web.call(
                "chat.appendStream", channel=self._place.channel, ts=self.ts, chunks=[task]
            )
        except SlackApiError as exc:
            log.info("slack refused a task update (%s); a status line instead", error_code(exc))
            raise StreamEnded(self.ts, self.streamed) from exc

    async def close(self, text: str, meta: ReplyMeta) -> None:
        if self.ts is None:
            raise StreamEnded()
        if meta.error is not None:
            # The partial answer stays; the error line ends the same message.
            note = f"\n\n⚠️ _{text}_" if "`" not in text else f"\n\n⚠️ {text}"
            await self._stop(self.text[len(self.streamed) :], note)
            return
        if text.startswith(self.streamed):
            await self._stop(text[len(self.streamed) :])
            return
        # We streamed past the point where the text splits best: trim the message to it.
        await self._stop("")
        try:
            await self.target.edit(self.ts, text, meta)
        except SlackApiError as exc:
            log.warning("could not trim the streamed message (%s)", error_code(exc))

    async def _stop(self, tail: str, note: str = "") -> None:
        assert self.ts is not None
        markdown = defuse_markdown(tail) + note
        try:
            await self.target.web.call(
                "chat.stopStream",
                channel=self._place.channel,
                ts=self.ts,
                markdown_text=markdown or None,
            )
        except SlackApiError as exc:
            # The stream expired before the end: the core finishes it with chat.update.
            log.info("slack stopStream failed (%s); finishing with chat.update", error_code(exc))
            raise StreamEnded(self.ts, self.streamed) from exc
