"""Slack events in, IncomingMessage out: channel keys, mention normalisation, thread context.

- Keys: `slack:<team>:<channel>`, and a thread is its own conversation
  `slack:<team>:<channel>:<thread_ts>`. In a DM with the app (its Messages tab, Slack's agent
  view) every conversation is a thread: a new message there starts one, keyed by its own ts.
- Message ids: `<channel>:<ts>`, the same for the `app_mention` and the `message` event of one
  post, so the database's unique (platform, message id) answers each post once.
- Edits and deletions (`message_changed`, `message_deleted`): the ids of the stored copies
  they concern, for the core's `edited` and `deleted`.
- Files (`files` on the event): described with a `fetch` that downloads `url_private` with the
  bot token (scope `files:read`) through adapters/files.py, which the core calls only for
  messages it answers.
- A thread's earlier messages, as Slack holds them (`conversations.replies`: the parent and
  earlier replies, the bot's own marked as its own), for the core to seed a thread new to
  memory with: its context then starts with its parent even when the parent was said before
  the bot joined, or in the channel's memory rather than the thread's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.files import FileDownloads
from adapters.slack.api import SlackWeb, error_code
from bot.attachments import safe_name
from bot.types import Attachment, Author, IncomingMessage

log = logging.getLogger(__name__)

PLATFORM = "slack"
SEED_LIMIT = 50  # earlier thread messages copied into a thread new to memory
# Message subtypes that carry something someone said; edits, joins, deletions etc. do not.
SAID_SUBTYPES = frozenset({None, "bot_message", "thread_broadcast", "file_share", "me_message"})
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    user_id: str | None  # the bot user (U…), what `<@…>` mentions
    bot_id: str | None  # the bot (B…), what its own messages carry


def channel_key(team: str, channel: str, thread_ts: str | None = None) -> str:
    base = f"{PLATFORM}:{team}:{channel}"
    return f"{base}:{thread_ts}" if thread_ts else base


def message_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def is_self(event: dict[str, Any], me: BotIdentity) -> bool:
    return bool(
        (me.user_id and event.get("user") == me.user_id)
        or (me.bot_id and event.get("bot_id") == me.bot_id)
    )


def normalise(text: str, me: BotIdentity, tag: str) -> tuple[str, bool]:
    """`<@BOT>` reads `@<tag>` where it was written; other mentions stay Slack's (they are text).

    Also says whether the bot was mentioned: a mention anywhere addresses it (Slack sends it as
    `app_mention`), and the core decides what that means ("thanks @bot!" is answered).
    """
    if not me.user_id:
        return text.strip(), False
    mentioned = False

    def swap(m: re.Match[str]) -> str:
        nonlocal mentioned
        if m.group(1) != me.user_id:
            return m.group(0)
        mentioned = True
        return f"@{tag}"

    return _USER_MENTION.sub(swap, text).strip(), mentioned


def ts_time(ts: str | None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts or ""), UTC)
    except ValueError:
        return datetime.now(UTC)


def starts_conversation(event: dict[str, Any]) -> bool:
    """A new message (not a reply) in a DM with the app: in the agent view, a new conversation."""
    thread_ts = event.get("thread_ts")
    return event.get("channel_type") == "im" and (not thread_ts or thread_ts == event.get("ts"))


@dataclass(frozen=True, slots=True)
class Edit:
    message_ids: tuple[str, ...]  # the original and the copy a thread may hold of it
    text: str | None  # the new text; None for a deletion
    by_self: bool = False


def edit_of(event: dict[str, Any], me: BotIdentity, tag: str) -> Edit | None:
    """`message_changed` / `message_deleted` as the ids they concern, or None if unreadable."""
    channel = event.get("channel")
    if not isinstance(channel, str):
        return None
    if event.get("subtype") == "message_changed":
        changed = event.get("message")
        if not isinstance(changed, dict) or not isinstance(changed.get("ts"), str):
            return None
        text, _ = normalise(str(changed.get("text") or ""), me, tag)
        ids = _ids_of(channel, changed["ts"], changed.get("thread_ts"))
        return Edit(ids, text, by_self=is_self(changed, me))
    deleted_ts = event.get("deleted_ts")
    if not isinstance(deleted_ts, str):
        return None
    before = event.get("previous_message")
    thread_ts = before.get("thread_ts") if isinstance(before, dict) else None
    return Edit(_ids_of(channel, deleted_ts, thread_ts), None)


def _ids_of(channel: str, ts: str, thread_ts: object) -> tuple[str, ...]:
    original = message_id(channel, ts)
    if isinstance(thread_ts, str) and thread_ts:
        return (original, f"{original}@{thread_ts}")  # the copy `earlier` seeded a thread with
    return (original,)


class UserNames:
    """Display names by user id, asked of `users.info` once each; the id when that fails.

    User ids are unique across Slack, so one cache serves every workspace."""

    def __init__(self, max_size: int = 5_000):
        self.max_size = max_size
        self._names: dict[str, str] = {}
        self._guests: dict[str, bool] = {}

    async def name(self, web: SlackWeb, event: dict[str, Any]) -> str:
        if event.get("bot_id") and not event.get("user"):
            profile = event.get("bot_profile") or {}
            return str(event.get("username") or profile.get("name") or event["bot_id"])
        user = str(event.get("user") or "unknown")
        if user in self._names:
            return self._names[user]
        name = user
        try:
            data = await web.call("users.info", read=True, user=user)
            info = data.get("user") or {}
            self._guests[user] = _guest(info)
            profile = info.get("profile") or {}
            name = (
                profile.get("display_name")
                or profile.get("real_name")
                or info.get("real_name")
                or info.get("name")
                or user
            )
        except SlackApiError as exc:
            log.info("users.info failed for %s (%s); using the id", user, error_code(exc))
        if len(self._names) >= self.max_size:
            self._names.clear()
            self._guests.clear()
        self._names[user] = str(name)
        return str(name)

    async def is_full_member(self, web: SlackWeb, user: str) -> bool:
        """A full member of the workspace (not a guest, not from another organisation), who
        may read its public channels. Asked of Slack each time: this decides what they read."""
        try:
            data = await web.call("users.info", read=True, user=user)
        except SlackApiError as exc:
            log.info("users.info failed for %s (%s): treated as a guest", user, error_code(exc))
            return False
        info = data.get("user") or {}
        return isinstance(info, dict) and not _guest(info)


def _guest(info: dict[str, Any]) -> bool:
    return bool(
        info.get("is_restricted")
        or info.get("is_ultra_restricted")
        or info.get("is_stranger")
        or info.get("deleted")
        or info.get("is_bot")
    )


def files_of(
    event: dict[str, Any], downloads: FileDownloads | None, token: str
) -> tuple[Attachment, ...]:
    """The event's files. Deleted ones (`tombstone`) and those over the workspace's plan
    (`hidden_by_limit`) have nothing to read: they are named only."""
    found = []
    for f in event.get("files") or []:
        if not isinstance(f, dict):
            continue
        name = safe_name(str(f.get("name") or f.get("title") or "file"))
        url = f.get("url_private_download") or f.get("url_private")
        readable = isinstance(url, str) and f.get("mode") not in ("tombstone", "hidden_by_limit")
        fetch = None
        if readable and downloads is not None:

            async def fetch(limit: int, url: str = str(url), name: str = name) -> bytes:
                assert downloads is not None
                return await downloads.fetch(
                    name, url, limit, headers={"Authorization": f"Bearer {token}"}
                )

        size = f.get("size")
        found.append(
            Attachment(
                name=name,
                content_type=str(f.get("mimetype") or "") or None,
                size=size if isinstance(size, int) else None,
                fetch=fetch,
            )
        )
    return tuple(found)


class SlackInbound:
    """Turns message-like events into IncomingMessages; reads a thread's earlier messages."""

    def __init__(self, tag: str, *, downloads: FileDownloads | None = None):
        self.tag = tag
        self.names = UserNames()
        self.downloads = downloads

    async def incoming(
        self, web: SlackWeb, event: dict[str, Any], team: str, me: BotIdentity
    ) -> IncomingMessage:
        channel = str(event["channel"])
        ts = str(event["ts"])
        thread_ts = event.get("thread_ts")
        in_thread = bool(thread_ts) and thread_ts != ts
        # In the app's DM every conversation is a thread of its own, from its first message.
        thread = thread_ts if in_thread else (ts if starts_conversation(event) else None)
        return await self._message(
            web,
            event,
            key=channel_key(team, channel, thread),
            message_id=message_id(channel, ts),
            me=me,
            in_thread=in_thread,
            # Downloaded with the token of the workspace the event came from.
            files=files_of(event, self.downloads, web.client.token or ""),
            parent=channel_key(team, channel) if in_thread else None,
        )

    async def _message(
        self,
        web: SlackWeb,
        event: dict[str, Any],
        *,
        key: str,
        message_id: str,
        me: BotIdentity,
        in_thread: bool = False,
        files: tuple[Attachment, ...] = (),
        parent: str | None = None,
    ) -> IncomingMessage:
        text, mentioned = normalise(str(event.get("text") or ""), me, self.tag)
        mine = is_self(event, me)
        return IncomingMessage(
            platform=PLATFORM,
            channel=key,
            message_id=message_id,
            author=Author(
                id=str(event.get("user") or event.get("bot_id") or "unknown"),
                name=self.tag if mine else await self.names.name(web, event),
                is_bot=bool(event.get("bot_id")) or event.get("subtype") == "bot_message",
                is_self=mine,
            ),
            text=text,
            mentions_bot=mentioned,
            is_direct=event.get("channel_type") == "im",
            # A reply under the bot's own post; other threads it is part of, the core knows.
            reply_to_bot=bool(
                in_thread and me.user_id and event.get("parent_user_id") == me.user_id
            ),
            in_thread=in_thread,
            parent_channel=parent,
            time=ts_time(str(event.get("ts") or "")),
            attachments=files,
        )

    async def earlier(
        self, web: SlackWeb, event: dict[str, Any], team: str, me: BotIdentity
    ) -> list[IncomingMessage]:
        """What Slack holds of the event's thread before it, oldest first (the core seeds)."""
        channel = str(event["channel"])
        thread_ts = str(event["thread_ts"])
        key = channel_key(team, channel, thread_ts)
        try:
            data = await web.call(
                "conversations.replies", read=True, channel=channel, ts=thread_ts, limit=SEED_LIMIT
            )
        except SlackApiError as exc:
            log.warning(
                "could not read thread %s (%s): it starts without its parent", key, error_code(exc)
            )
            return []
        found: list[IncomingMessage] = []
        for said in data.get("messages") or []:
            if not isinstance(said, dict) or said.get("ts") in (None, event.get("ts")):
                continue
            if said.get("subtype") not in SAID_SUBTYPES or not said.get("text"):
                continue
            # Its own id in the thread's copy: the original keeps `<channel>:<ts>`.
            copy_id = f"{message_id(channel, str(said['ts']))}@{thread_ts}"
            found.append(await self._message(web, said, key=key, message_id=copy_id, me=me))
        return found
