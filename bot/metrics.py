"""What the core counts, as a small interface: the composition root plugs in Prometheus.

The core calls these at the points only it knows about (a message stored, a turn started, a
model call's latency and tokens, a failure's kind). The default does nothing.
"""

from __future__ import annotations

import time
from typing import Protocol

from bot.context import ModelRequest
from bot.errors import ProviderError
from bot.providers.base import DeltaSink, ModelReply, Provider


class Metrics(Protocol):
    def message_received(self, platform: str) -> None: ...

    def turn_started(self, platform: str) -> None: ...

    def model_call(
        self, provider: str, seconds: float, reply: ModelReply | None, error: str | None
    ) -> None: ...

    def turn_failed(self, platform: str, kind: str) -> None: ...

    def tool_call(self, tool: str, seconds: float, error: str | None) -> None: ...


class NoMetrics:
    def message_received(self, platform: str) -> None:
        return None

    def turn_started(self, platform: str) -> None:
        return None

    def model_call(
        self, provider: str, seconds: float, reply: ModelReply | None, error: str | None
    ) -> None:
        return None

    def turn_failed(self, platform: str, kind: str) -> None:
        return None

    def tool_call(self, tool: str, seconds: float, error: str | None) -> None:
        return None


NO_METRICS = NoMetrics()


class TimedProvider:
    """A provider seen through the metrics: every call's latency, tokens or error kind."""

    def __init__(self, inner: Provider, metrics: Metrics):
        self.inner = inner
        self.metrics = metrics
        self.name = inner.name

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        start = time.perf_counter()
        try:
            reply = await self.inner.complete(request, on_delta)
        except ProviderError as err:
            self.metrics.model_call(self.name, time.perf_counter() - start, None, err.kind.value)
            raise
        self.metrics.model_call(self.name, time.perf_counter() - start, reply, None)
        return reply
