"""Slack's agent view: the app's Messages tab, its suggested prompts, and "summarise this channel".

- Opening the Messages tab (`app_home_opened` with `tab = messages`) sets the suggested prompts
  (`assistant.threads.setSuggestedPrompts`, for the tab as a whole).
- Every conversation there is a thread with its own memory (adapters/slack/inbound.py), titled
  after its first question (adapters/slack/status.py).
- `app_context_changed` says what the person has in view beside the agent view; a DM message
  may carry the same as `app_context`. "Summarise this channel" asked there reads that channel
  (its stored messages, from the core's `history`) when the rule below allows, and is refused
  with a line that says why when it does not:
  the app must be a member of the channel (`conversations.info`: `is_member`), and the person
  must be able to read it: a member of it (`conversations.members`), or, for a public channel,
  a full member of the workspace (`users.info`: not a guest, not from another organisation),
  as Slack itself lets them read it. Any doubt (an error from Slack) refuses.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.api import SlackWeb, error_code
from adapters.slack.inbound import UserNames, channel_key
from bot.memory import MemoryUnavailable
from bot.service import ChatService
from bot.types import Viewed

log = logging.getLogger(__name__)

# The same prompts as slack/manifest.yaml's `agent_view.suggested_prompts` (a test checks).
SUGGESTED_PROMPTS = [
    {"title": "Summarise this channel", "message": "Summarise this channel"},
    {"title": "What can you do?", "message": "help"},
    {"title": "Draft a reply", "message": "Help me draft a friendly, short reply to a message."},
]
PROMPTS_TITLE = "Try one of these:"
CHANNEL_ENTITY = "slack#/types/channel_id"
VIEWED_MESSAGES = 200  # read from memory; the summary persona keeps what fits its budget
MEMBER_PAGES = 20  # conversations.members pages of 1,000 looked through at most

_SUMMARISE = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|sum\s+up|recap)\s+(?:this|the\s+current)\s+channel\b"
    r"|^\s*이\s*채널\s*요약",
    re.IGNORECASE,
)

NO_CONTEXT = (
    "I can't tell which channel you are looking at. Open the channel beside this conversation "
    "and ask again (or ask `@summary` in the channel itself)."
)
NOT_A_MEMBER = (
    "I am not a member of that channel, so I cannot read it. Invite me there "
    "(`/invite @chatbot`) and ask again."
)
NOT_READABLE = "You cannot read that channel, so I will not summarise it for you."
NOTHING_YET = (
    "I have not seen anything said in {name} yet: I remember a channel from when I join it."
)
NO_STORE = "I could not read my memory of that channel just now. Please try again."


def asks_to_summarise(text: str) -> bool:
    return bool(_SUMMARISE.match(text))


def channel_in_view(context: object) -> str | None:
    """The first channel among what the person has in view (Slack orders them by relevance)."""
    if not isinstance(context, dict):
        return None
    entities = context.get("entities")
    if isinstance(entities, list):
        for entity in entities:
            if (
                isinstance(entity, dict)
                and entity.get("type") == CHANNEL_ENTITY
                and isinstance(entity.get("value"), str)
            ):
                return str(entity["value"])
        return None
    channel = context.get("channel_id")  # the older assistant view reports one channel
    return channel if isinstance(channel, str) else None


async def set_suggested_prompts(web: SlackWeb, channel: str) -> None:
    try:
        await web.call(
            "assistant.threads.setSuggestedPrompts",
            channel_id=channel,
            title=PROMPTS_TITLE,
            prompts=SUGGESTED_PROMPTS,
        )
    except SlackApiError as exc:
        log.warning("could not set the suggested prompts (%s)", error_code(exc))


async def _is_member(web: SlackWeb, channel: str, user: str) -> bool:
    cursor: str | None = None
    for _ in range(MEMBER_PAGES):
        data = await web.call(
            "conversations.members", read=True, channel=channel, limit=1000, cursor=cursor
        )
        if user in (data.get("members") or []):
            return True
        cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return False
    return False


async def viewed(
    web: SlackWeb,
    service: ChatService,
    names: UserNames,
    *,
    team: str,
    user: str,
    channel: str | None,
) -> Viewed:
    """The channel in view, read for the person if they and the app may; else why not."""
    if channel is None:
        return Viewed(channel="", name="", refused=NO_CONTEXT)
    key = channel_key(team, channel)
    try:
        info: dict[str, Any] = (
            await web.call("conversations.info", read=True, channel=channel)
        ).get("channel") or {}
    except SlackApiError as exc:
        log.info("agent view: conversations.info on %s failed (%s)", channel, error_code(exc))
        return Viewed(key, "that channel", refused=NOT_A_MEMBER)
    if not info.get("is_member"):
        return Viewed(key, "that channel", refused=NOT_A_MEMBER)
    name = f"#{info['name']}" if info.get("name") else "that channel"
    public = bool(info.get("is_channel")) and not info.get("is_private") and not info.get("is_im")
    try:
        readable = await _is_member(web, channel, user) or (
            public and await names.is_full_member(web, user)
        )
    except SlackApiError as exc:
        log.info("agent view: membership of %s unknown (%s): refused", channel, error_code(exc))
        readable = False
    if not readable:
        return Viewed(key, name, refused=NOT_READABLE)
    try:
        messages = tuple(await service.history(key, VIEWED_MESSAGES))
    except MemoryUnavailable:
        return Viewed(key, name, refused=NO_STORE)
    if not messages:
        return Viewed(key, name, refused=NOTHING_YET.format(name=name))
    return Viewed(key, name, messages=messages)
