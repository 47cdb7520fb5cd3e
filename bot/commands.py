"""`@chatbot help`, `@chatbot reset`, `@chatbot usage`: answered by the core, not the model.

Command replies are delivered but not stored, so they never enter a model's context.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time

from bot.channel_rules import ChatRules
from bot.memory import Memory
from bot.personas import Persona
from bot.types import IncomingMessage, StoredMessage, UsageTotal, utcnow

COMMANDS = ("help", "reset", "usage")


def command_of(text: str) -> str | None:
    """The command when the whole text is one (`help`, `Reset!`), else None."""
    word = text.strip().rstrip("!.?").strip().lower()
    return word if word in COMMANDS else None


def help_text(personas: Mapping[str, Persona], default: str, name: str) -> str:
    lines = ["Tags here (write the tag at the start of a message):"]
    for persona in sorted(personas.values(), key=lambda p: (p.name != default, p.name)):
        mark = " (default here)" if persona.name == default and default != name else ""
        lines.append(f"@{persona.name}{mark}: {persona.description or 'no description'}")
    lines.append(
        f"Commands: @{name} help · @{name} reset (forget this channel) · "
        f"@{name} usage (tokens used here)"
    )
    return "\n".join(lines)


async def reset(
    memory: Memory, rules: ChatRules, asked: StoredMessage, message: IncomingMessage
) -> str:
    if not rules.may_reset(message):
        return (
            "Only members with an allowed role may reset this channel "
            "(reset_roles / reset_users in the configuration)."
        )
    await memory.reset(asked.channel, asked.id)
    if rules.commands.reset_deletes:
        gone = await memory.forget(asked.channel, asked.id)
        return f"Done: I forgot this channel and deleted {gone} stored messages."
    return "Done: I forgot this channel. Earlier messages are no longer sent to the model."


def _figures(totals: list[UsageTotal]) -> str:
    if not totals:
        return "none"
    parts = [
        f"{t.model or '?'} {t.total_tokens:,} tokens "
        f"(in {t.input_tokens:,} / out {t.output_tokens:,}, {t.answers} answers)"
        for t in totals
    ]
    return "; ".join(parts)


def start_of_today(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


async def usage(memory: Memory, channel: str, now: datetime | None = None) -> str:
    today = await memory.usage(channel, since=start_of_today(now))
    total = await memory.usage(channel)
    return f"Tokens in this channel today (UTC): {_figures(today)}\nIn total: {_figures(total)}"


def unknown(word: str, name: str) -> str:
    """The reply to a command asked by name that the core does not have."""
    listed = ", ".join(COMMANDS)
    return f"There is no command `{word}`. Commands: {listed} (as in `@{name} help`)."
