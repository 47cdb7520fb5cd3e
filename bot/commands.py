"""`@chatbot help`, `reset`, `usage`, `memory`, `forget me`: answered by the core, not the model.

Command replies are delivered but not stored, so they never enter a model's context.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, time

from bot.channel_rules import ChatRules
from bot.memory import Memory
from bot.personas import Persona
from bot.spending import usd
from bot.types import IncomingMessage, UsageTotal, utcnow

COMMANDS = ("help", "reset", "usage", "memory", "forget me")
NOT_ALLOWED = (
    "Only members with an allowed role may {what} here "
    "(reset_roles / reset_users in the configuration)."
)


def command_of(text: str) -> str | None:
    """The command when the whole text is one (`help`, `Reset!`, `forget me`), else None."""
    words = " ".join(text.strip().rstrip("!.?").split()).lower()
    return words if words in COMMANDS else None


def help_text(personas: Mapping[str, Persona], default: str, name: str) -> str:
    lines = ["Tags here (write the tag at the start of a message):"]
    for persona in sorted(personas.values(), key=lambda p: (p.name != default, p.name)):
        mark = " (default here)" if persona.name == default and default != name else ""
        lines.append(f"@{persona.name}{mark}: {persona.description or 'no description'}")
    lines.append(
        f"Commands: @{name} help · @{name} reset (forget this channel) · "
        f"@{name} usage (tokens, cost and your limits) · @{name} memory (what I remember here) · "
        f"@{name} forget me (delete your messages here)"
    )
    return "\n".join(lines)


def unknown(command: str, name: str) -> str:
    """A platform asked for a command by a name the core does not have (yet)."""
    known = ", ".join(f"@{name} {c}" for c in COMMANDS)
    return f"There is no `{command}` command. Commands: {known}."


async def reset(
    memory: Memory, rules: ChatRules, channel: str, up_to_id: int, message: IncomingMessage
) -> str:
    """Forget `channel` up to and including message `up_to_id`, if the sender may."""
    if not rules.may_reset(message):
        return NOT_ALLOWED.format(what="reset this channel")
    await memory.reset(channel, up_to_id)
    if rules.commands.reset_deletes:
        gone = await memory.forget(channel, up_to_id)
        return f"Done: I forgot this channel and deleted {gone} stored messages."
    return "Done: I forgot this channel. Earlier messages are no longer sent to the model."


def _figures(totals: list[UsageTotal]) -> str:
    if not totals:
        return "none"
    parts = [
        f"{t.model or '?'} {t.total_tokens:,} tokens "
        f"(in {t.input_tokens:,} / out {t.output_tokens:,}, {t.answers} answers, "
        f"est. {usd(t.cost_usd)})"
        for t in totals
    ]
    return "; ".join(parts)


def start_of_today(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


async def usage(memory: Memory, channel: str, now: datetime | None = None) -> str:
    today = await memory.usage(channel, since=start_of_today(now))
    total = await memory.usage(channel)
    lines = [
        f"Tokens in this channel today (UTC): {_figures(today)}",
        f"In total: {_figures(total)}",
    ]
    tools_today = await memory.tool_usage(channel, since=start_of_today(now))
    tools_total = await memory.tool_usage(channel)
    if tools_total:
        lines.append(f"Tool calls today: {_tool_figures(tools_today)}")
        lines.append(f"Tool calls in total: {_tool_figures(tools_total)}")
    return "\n".join(lines)


def _tool_figures(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    by_count = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{sum(counts.values()):,} (" + ", ".join(f"{n} {c:,}" for n, c in by_count) + ")"


async def forget_me(
    memory: Memory, rules: ChatRules, channel: str, message: IncomingMessage
) -> str:
    """The sender's own messages in this channel leave memory, with everything derived from
    them; the channel's summary is rebuilt from what is left."""
    if not rules.may_reset(message):
        return NOT_ALLOWED.format(what="make me forget messages")
    gone = await memory.forget_author(channel, message.author.id)
    return (
        f"Done: I deleted your {gone:,} messages in this channel from my memory "
        "(and the summary built on them; it is rebuilt without them)."
    )


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


async def memory_report(memory: Memory, channel: str, scope: str) -> str:
    stats = await memory.stats(channel)
    state = await memory.state(channel)
    lines = [f"I hold {stats.messages:,} messages of this channel."]
    summary = await memory.summary(channel, scope)
    if summary is None or summary.covers_up_to_id <= state.reset_after_id:
        lines.append("Summary: none yet (one is written once older messages pile up).")
    else:
        lines.append(
            f"Summary: {summary.covers_messages:,} older messages, up to "
            f"{summary.created_at:%Y-%m-%d %H:%M} UTC, by {summary.model or 'the model'}: "
            f"“{_shorten(summary.text)}”"
        )
    if stats.last_context:
        c = json.loads(stats.last_context)
        used = c["system"] + c["summary"] + c["recall"] + c["recent"]
        lines.append(
            f"Last answer's context: {used:,} tokens (history budget {c['budget']:,}): "
            f"system {c['system']:,}, summary {c['summary']:,}, "
            f"recalled {c['recall']:,} ({len(c['recalled'])} messages), "
            f"recent {c['recent']:,} ({c['recent_turns']} turns)."
        )
    return "\n".join(lines)
