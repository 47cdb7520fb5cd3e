"""The built-in tools: the channel's long memory, its summary, and the time somewhere.

They only ever see the channel the question came from (`ToolContext.channel`), through the core's
memory port, and are safe in anonymous web rooms: they read nothing beyond the room.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.long_memory import said_line, scope_key
from bot.memory import Memory
from bot.tools.base import ToolContext, ToolSpec

BUILTIN_NAMES = ("search_memory", "current_time", "channel_summary")
SEARCH_LIMIT = 8


class SearchMemory:
    spec = ToolSpec(
        name="search_memory",
        description=(
            "Search everything said in this chat channel, including long ago, for messages about "
            "something (a name, a topic, a decision). Returns the best matches with who said "
            "them and when. Use it when the question is about something said earlier."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "words to look for, e.g. 'Minho exam'"}
            },
            "required": ["query"],
        },
    )
    safe_for_web = True

    def __init__(self, memory: Memory):
        self.memory = memory

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        query = str(arguments.get("query") or "").strip()
        if not query:
            return "error: give words to look for in `query`"
        state = await self.memory.state(context.channel)
        author = context.author_id if context.scope == "member" else None
        found = await self.memory.recall(
            context.channel,
            query,
            after_id=state.reset_after_id,
            before_id=2**62,
            limit=SEARCH_LIMIT,
            author_id=author,
        )
        if not found:
            return f"No messages in this channel match {query!r}."
        return "\n".join(said_line(m) for m in sorted(found, key=lambda m: m.id))


class ChannelSummary:
    spec = ToolSpec(
        name="channel_summary",
        description=(
            "The summary of this chat channel's older conversation: who said what, decisions, "
            "facts about people, open questions."
        ),
        parameters={"type": "object", "properties": {}},
    )
    safe_for_web = True

    def __init__(self, memory: Memory):
        self.memory = memory

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        state = await self.memory.state(context.channel)
        summary = await self.memory.summary(
            context.channel, scope_key(context.scope, context.author_id)
        )
        if summary is None or summary.covers_up_to_id <= state.reset_after_id:
            return "There is no summary of this channel yet (there is not enough older chat)."
        return (
            f"Summary of {summary.covers_messages} older messages, written "
            f"{summary.created_at:%Y-%m-%d %H:%M} UTC:\n{summary.text}"
        )


class CurrentTime:
    spec = ToolSpec(
        name="current_time",
        description="The current date and time in a time zone (IANA name, e.g. Asia/Seoul).",
        parameters={
            "type": "object",
            "properties": {
                "time_zone": {
                    "type": "string",
                    "description": "an IANA time zone such as Asia/Seoul or Europe/Paris; UTC if unset",
                }
            },
        },
    )
    safe_for_web = True

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        name = str(arguments.get("time_zone") or "UTC").strip() or "UTC"
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return f"error: {name!r} is not a time zone I know (use an IANA name like Asia/Seoul)"
        now = datetime.now(zone)
        return f"{now:%Y-%m-%d %H:%M:%S} ({name}, UTC{now:%z}, {now:%A})"


def builtin_tools(memory: Memory) -> dict[str, SearchMemory | ChannelSummary | CurrentTime]:
    return {
        "search_memory": SearchMemory(memory),
        "current_time": CurrentTime(),
        "channel_summary": ChannelSummary(memory),
    }
