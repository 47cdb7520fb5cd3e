"""The values of a tool call, provider-neutral: what a tool is, what the model asked, what came back.

Each provider renders these in its own wire format (bot/providers/*): Chat Completions
`tools` / `tool_calls` / `role: tool`, the Responses API's `function_call` /
`function_call_output` items, Gemini's function declarations and function responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.types import ChannelKey


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about a tool."""

    name: str  # ^[a-zA-Z0-9_-]{1,64}$, as every provider requires
    description: str
    parameters: dict[str, Any]  # a JSON Schema object


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Where the question came from: a tool only ever sees this channel."""

    channel: ChannelKey
    author_id: str
    scope: str = "shared"  # long memory's scope for this turn


class Tool(Protocol):
    spec: ToolSpec
    # Offered in anonymous web rooms: reads nothing beyond the room, does nothing outside.
    safe_for_web: bool

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """The result as text for the model. Raises on failure (the loop reports it)."""
        ...


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for. `arguments` is the JSON text it sent, unparsed."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    call: ToolCall
    output: str  # what the model gets back: the result, or a short error for it
    error: str | None = None  # set when the tool failed, timed out, or was not there
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolRound:
    """One model round that asked for tools, and what they returned."""

    calls: list[ToolCall]
    results: list[ToolResult]
    text: str = ""  # anything the model said before asking
    response_id: str | None = None  # Responses API: the response that asked (the chain)
    # Provider-specific items to send back verbatim (e.g. Gemini's thought signatures).
    raw: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Source:
    """A web page a provider-hosted search used (shown under the answer as a link)."""

    url: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class ToolStatus:
    """What people see while a round's tools run (bot/delivery.py shows it where it can)."""

    tools: tuple[str, ...]  # the tools' names, as the model called them
    label: str  # "searching this channel's memory…"
    done: bool = False
    failed: bool = False  # done, and at least one call failed
