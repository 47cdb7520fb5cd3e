"""Slack events in, IncomingMessage out: channel keys, mention normalisation, thread context.

- Keys: `slack:<team>:<channel>`, and a thread is its own conversation
  `slack:<team>:<channel>:<thread_ts>`.
- Message ids: `<channel>:<ts>`, the same for the `app_mention` and the `message` event of one
  post, so the database's unique (platform, message id) answers each post once.
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

from adapters.slack.api import SlackWeb, error_code
from bot.types import Author, IncomingMessage

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


class UserNames:
    """Display names by user id, asked of `users.info` once each; the id when that fails."""

    def __init__(self, web: SlackWeb, max_size: int = 5_000):
        self.web = web
        self.max_size = max_size
        self._names: dict[str, str] = {}

    async def name(self, event: dict[str, Any]) -> str:
        if event.get("bot_id") and not event.get("user"):
            profile = event.get("bot_profile") or {}
            return str(event.get("username") or profile.get("name") or event["bot_id"])
        user = str(event.get("user") or "unknown")
        if user in self._names:
            return self._names[user]
        name = user
        try:
            data = await self.web.call("users.info", read=True, user=user)
            info = data.get("user") or {}
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
        self._names[user] = str(name)
        return str(name)


class SlackInbound:
    """Turns message-like events into IncomingMessages; reads a thread's earlier messages."""

    def __init__(self, web: SlackWeb, tag: str):
        self.web = web
        self.tag = tag
        self.names = UserNames(web)

    async def incoming(self, event: dict[str, Any], team: str, me: BotIdentity) -> IncomingMessage:
        channel = str(event["channel"])
        ts = str(event["ts"])
        thread_ts = event.get("thread_ts")
        in_thread = bool(thread_ts) and thread_ts != ts
        return await self._message(
            event,
            key=channel_key(team, channel, thread_ts if in_thread else None),
            message_id=message_id(channel, ts),
            me=me,
            in_thread=in_thread,
            parent=channel_key(team, channel) if in_thread else None,
        )

    async def _message(
        self,
        event: dict[str, Any],
        *,
        key: str,
        message_id: str,
        me: BotIdentity,
        in_thread: bool = False,
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
                name=self.tag if mine else await self.names.name(event),
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
        )

    async def earlier(
        self, event: dict[str, Any], team: str, me: BotIdentity
    ) -> list[IncomingMessage]:
        """What Slack holds of the event's thread before it, oldest first (the core seeds)."""
        channel = str(event["channel"])
        thread_ts = str(event["thread_ts"])
        key = channel_key(team, channel, thread_ts)
        try:
            data = await self.web.call(
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
            found.append(await self._message(said, key=key, message_id=copy_id, me=me))
        return found
