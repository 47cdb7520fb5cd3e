"""The provider interface: one streamed model call, errors already classified."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.context import ModelRequest
from bot.tools.base import Source, ToolCall
from bot.types import Usage

DeltaSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    usage: Usage
    response_id: str | None = None  # Responses API: the id to chain the next call from
    # The model asks for these before it answers (the core runs them: bot/tools/loop.py).
    tool_calls: list[ToolCall] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)  # hosted web search's pages
    raw: list[Any] = field(default_factory=list)  # provider items to send back with the round


class Provider(Protocol):
    name: str

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        """Call the model, passing text deltas to `on_delta` as they arrive.

        Raises bot.errors.ProviderError and nothing else.
        """
        ...


class Embedder(Protocol):
    """Turns texts into vectors for semantic recall (CHATBOT_EMBEDDING_MODEL)."""

    model: str

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order. Raises bot.errors.ProviderError and nothing else."""
        ...


async def ignore_delta(_: str) -> None:
    return None


async def close_provider(provider: object) -> None:
    """Close a provider's HTTP client, for providers that have one (`aclose`)."""
    closer = getattr(provider, "aclose", None)
    if closer is not None:
        await closer()
