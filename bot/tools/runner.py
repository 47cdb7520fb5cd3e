"""Running the calls a model asked for: in parallel, each within its timeout, never raising.

A tool that fails, times out, is not there or gets arguments that are not a JSON object gives
the model a short error result instead, so it can say so or try otherwise; the turn goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.text import repair
from bot.tools.base import Tool, ToolCall, ToolContext, ToolResult

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 16_000  # what one result may put in the model's context


def _arguments(call: ToolCall) -> dict[str, Any] | None:
    try:
        parsed = json.loads(call.arguments or "{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def run_one(
    call: ToolCall, tools: Mapping[str, Tool], context: ToolContext, timeout: float
) -> ToolResult:
    start = time.monotonic()

    def failed(error: str, told: str) -> ToolResult:
        return ToolResult(call, f"error: {told}", error=error, seconds=time.monotonic() - start)

    tool = tools.get(call.name)
    if tool is None:
        return failed("unknown_tool", f"there is no tool named {call.name!r}")
    arguments = _arguments(call)
    if arguments is None:
        return failed("bad_arguments", "the arguments were not a JSON object")
    try:
        async with asyncio.timeout(timeout):
            output = await tool.run(arguments, context)
    except TimeoutError:
        log.warning("tool %s timed out after %gs in %s", call.name, timeout, context.channel)
        return failed("timed_out", f"the tool did not answer within {timeout:g} seconds")
    except Exception as exc:
        log.warning("tool %s failed in %s: %s", call.name, context.channel, exc.__class__.__name__)
        return failed("failed", f"the tool failed ({exc.__class__.__name__}: {str(exc)[:200]})")
    text = repair(str(output))
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + " …(cut)"
    return ToolResult(call, text, seconds=time.monotonic() - start)


async def run_calls(
    calls: Sequence[ToolCall], tools: Mapping[str, Tool], context: ToolContext, timeout: float
) -> list[ToolResult]:
    """Every call at once (the model may ask for several), results in the calls' order."""
    return list(await asyncio.gather(*(run_one(c, tools, context, timeout) for c in calls)))
