"""The tool loop, one for every provider: ask the model, run what it asks for, send it back.

A turn runs at most `max_rounds` rounds that may ask for tools; the round after that is told
not to (`final`), so the turn always ends in an answer. What the model says before it asks
streams like any answer, with a paragraph break before the next round's text; the answer's
text is all of it, as shown. Usage is summed over the rounds, sources (hosted web search) kept
in order once each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.providers.base import DeltaSink, ModelReply
from bot.tools.base import Source, Tool, ToolContext, ToolResult, ToolRound, ToolStatus
from bot.tools.runner import run_calls
from bot.types import Usage

# Ask the model once: the rounds so far, and whether this is the round that may not ask.
Ask = Callable[[list[ToolRound], bool, DeltaSink], Awaitable[ModelReply]]

ROUND_BREAK = "\n\n"
NO_ANSWER = "I used my tools but could not put an answer together; please ask again."


@dataclass(slots=True)
class ToolLog:
    """Every call a turn made, kept even when a later round fails (they are stored either way)."""

    results: list[ToolResult] = field(default_factory=list)
    rounds: int = 0


def add_usage(a: Usage, b: Usage) -> Usage:
    """Two rounds' usage as one: numbers summed, the model named by the last round."""
    summed = {
        f.name: getattr(a, f.name) + getattr(b, f.name)
        for f in dataclasses.fields(Usage)
        if isinstance(getattr(a, f.name), int)
    }
    return dataclasses.replace(b, **summed)


async def tool_loop(
    ask: Ask,
    tools: Mapping[str, Tool],
    context: ToolContext,
    *,
    max_rounds: int,
    timeout: float,
    on_delta: DeltaSink,
    on_status: Callable[[ToolStatus], Awaitable[None]],
    label_of: Callable[[str], str],
    log: ToolLog,
) -> ModelReply:
    rounds: list[ToolRound] = []
    texts: list[str] = []
    usage = Usage()
    sources: dict[str, Source] = {}
    while True:
        # Calls the model makes although nothing was offered still get (error) results.
        final = log.rounds >= max_rounds
        reply = await ask(list(rounds), final, on_delta)
        usage = add_usage(usage, reply.usage)
        for source in reply.sources:
            sources.setdefault(source.url, source)
        if reply.text.strip():
            texts.append(reply.text)
        if final or not reply.tool_calls:
            break
        log.rounds += 1
        names = tuple(call.name for call in reply.tool_calls)
        label = " · ".join(dict.fromkeys(label_of(name) for name in names))
        if reply.text.strip():
            await on_delta(ROUND_BREAK)
        await on_status(ToolStatus(names, label))
        results = await run_calls(reply.tool_calls, tools, context, timeout)
        log.results += results
        failed = any(r.error is not None for r in results)
        await on_status(ToolStatus(names, label, done=True, failed=failed))
        rounds.append(
            ToolRound(
                calls=list(reply.tool_calls),
                results=results,
                text=reply.text,
                response_id=reply.response_id,
                raw=list(reply.raw),
            )
        )
    text = ROUND_BREAK.join(texts) or (NO_ANSWER if rounds else "")
    return dataclasses.replace(
        reply, text=text, usage=usage, sources=list(sources.values()), tool_calls=[]
    )
