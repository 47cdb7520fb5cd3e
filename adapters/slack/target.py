"""A Slack thread as the core's reply target: send, edit, and a native stream with a fallback.

Every answer goes into the thread of the message that asked (`thread_ts`). The stream uses
`chat.startStream` / `appendStream` / `stopStream`; when Slack refuses to start one, or a stream
expires, the same object carries on with a placeholder edited by `chat.update` at most once per
`edit_interval`, so the core never needs to know which of the two happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from adapters.slack.api import SlackWeb, error_code
from adapters.slack.mrkdwn import defuse_markdown, to_mrkdwn
from bot.delivery import ReplyMeta
from bot.splitting import split_message, utf8_len

log = logging.getLogger(__name__)

# Slack rejects `text` around 4,000 characters; we split the rendered mrkdwn by bytes, with room
# for the persona label.
MAX_BYTES = 3_500


@dataclass(frozen=True, slots=True)
class ThreadPlace:
    channel: str  # the Slack channel id
    thread_ts: str  # the message the answer belongs under
    team: str | None = None  # recipient team and user: Slack wants them for streams in channels
    user: str | None = None


class SlackThreadTarget:
    """Implements ReplyTarget, EditableTarget and NativeStreamTarget for one Slack thread."""

    max_length = MAX_BYTES

    def __init__(
        self,
        web: SlackWeb,
        place: ThreadPlace,
        *,
        default_persona: str,
        streaming: bool = True,
        edit_interval: float = 1.0,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.web = web
        self.place = place
        self.default_persona = default_persona
        self.streaming = streaming
        self.edit_interval = edit_interval
        self.flush_interval = flush_interval
        self.clock = clock

    def measure(self, text: str) -> int:
        return utf8_len(to_mrkdwn(text))

    def label(self, meta: ReplyMeta, *, markdown: bool) -> str:
        """The persona's name when it is not the default one; a warning sign on error lines."""
        label = ""
        if meta.error is not None:
            label += "⚠️ "
        if meta.persona != self.default_persona:
            label += f"**{meta.persona}:** " if markdown else f"*{meta.persona}:* "
        return label

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
            )
        except SlackApiError as exc:
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

    async def edit(self, handle: object, text: str, meta: ReplyMeta) -> None:
        if not handle:
            return
        await self.web.call(
            "chat.update", channel=self.place.channel, ts=str(handle), text=self.render(text, meta)
        )

    async def open_stream(self, meta: ReplyMeta) -> SlackStream:
        return SlackStream(self, meta)


class SlackStream:
    """One streamed answer. Modes: "new" → "stream" (native) or "edit" (placeholder + update)."""

    def __init__(self, target: SlackThreadTarget, meta: ReplyMeta):
        self.target = target
        self.meta = meta
        self.mode = "new" if target.streaming else "edit"
        self.ts: str | None = None  # the streamed message, or the edited placeholder
        self.text = ""  # everything the model said so far
        self.streamed = ""  # what reached the native stream
        self._last_flush = float("-inf")
        self._last_edit = float("-inf")
        self._shown = ""
        self._full = False  # the stream holds all one message can

    @property
    def _place(self) -> ThreadPlace:
        return self.target.place

    def _parts(self, text: str) -> list[str]:
        return split_message(text, self.target.max_length, self.target.measure)

    async def append(self, delta: str) -> None:
        self.text += delta
        if self.mode == "new":
            await self._start()
        elif self.mode == "stream":
            await self._flush(final=False)
        if self.mode == "edit":
            await self._edit_preview()

    async def _start(self) -> None:
        try:
            data = await self.target.web.call(
                "chat.startStream",
                channel=self._place.channel,
                thread_ts=self._place.thread_ts,
                recipient_team_id=self._place.team,
                recipient_user_id=self._place.user,
                markdown_text=self.target.label(self.meta, markdown=True)
                + defuse_markdown(self.text),
            )
        except SlackApiError as exc:
            log.info("slack refused a stream (%s); falling back to chat.update", error_code(exc))
            self.mode = "edit"
            return
        self.ts = str(data.get("ts") or "") or None
        if self.ts is None:
            self.mode = "edit"
            return
        self.mode = "stream"
        self.streamed = self.text
        self._last_flush = self.target.clock()

    def _room_for(self, text: str) -> bool:
        """Stream only what still fits in one Slack message; the rest waits for `close`."""
        return self.target.measure(text) <= self.target.max_length - 8

    async def _flush(self, *, final: bool) -> None:
        pending = self.text[len(self.streamed) :]
        if self._full or not pending:
            return
        now = self.target.clock()
        if not final and now - self._last_flush < self.target.flush_interval:
            return
        if not self._room_for(self.text):
            self._full = True  # the rest goes out as further messages when the answer ends
            return
        assert self.ts is not None
        try:
            await self.target.web.call(
                "chat.appendStream",
                channel=self._place.channel,
                ts=self.ts,
                markdown_text=defuse_markdown(pending),
            )
        except SlackApiError as exc:
            # Expired or refused mid-way: the streamed message becomes our placeholder.
            log.info("slack stream ended early (%s); falling back to chat.update", error_code(exc))
            self.mode = "edit"
            self._shown = self.streamed
            return
        self.streamed = self.text
        self._last_flush = now

    async def _edit_preview(self) -> None:
        now = self.target.clock()
        if now - self._last_edit < self.target.edit_interval:
            return
        preview = self._parts(self.text + " …")[0]
        if preview == self._shown:
            return
        self._last_edit = now
        await self._show(preview, self.meta)

    async def _show(self, text: str, meta: ReplyMeta) -> None:
        """Put `text` in the placeholder: edit it, or post it when there is none (or edit fails)."""
        if self.ts is not None:
            try:
                await self.target.edit(self.ts, text, meta)
                self._shown = text
                return
            except SlackApiError as exc:
                log.warning("slack chat.update failed (%s); posting instead", error_code(exc))
        self.ts = await self.target.send(text, meta)
        self._shown = text

    async def close(self, text: str, meta: ReplyMeta) -> None:
        if self.mode == "stream":
            await self._close_stream(text, meta)
            return
        parts = self._parts(text)
        if self.mode == "edit" and (self.ts is not None or self._shown):
            if parts[0] != self._shown:
                await self._show(parts[0], meta)
            parts = parts[1:]
        for part in parts:
            await self.target.send(part, meta)

    async def _close_stream(self, text: str, meta: ReplyMeta) -> None:
        assert self.ts is not None
        if meta.error is not None:
            # The partial answer stays; the error line ends the same message.
            note = f"\n\n⚠️ _{text}_" if "`" not in text else f"\n\n⚠️ {text}"
            tail = "" if self._full else self.text[len(self.streamed) :]
            await self._stop(tail, note)
            return
        parts = self._parts(text)
        first = parts[0]
        if first.startswith(self.streamed):
            await self._stop(first[len(self.streamed) :])
        else:
            # We streamed past the point where the text splits best: trim the message to it.
            await self._stop("")
            try:
                await self.target.edit(self.ts, first, meta)
            except SlackApiError as exc:
                log.warning("could not trim the streamed message (%s)", error_code(exc))
        for part in parts[1:]:
            await self.target.send(part, meta)

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
            # The stream expired before the end: show the first part by editing instead.
            log.info("slack stopStream failed (%s); finishing with chat.update", error_code(exc))
            await self._show(self._parts(self.streamed + tail)[0], self.meta)
