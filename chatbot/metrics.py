"""Prometheus metrics for `GET /metrics`: the core's counters plus connected clients per adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.providers.base import ModelReply

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Clients(Collector):
    """Read at scrape time, so the number is never stale and nothing has to keep it in sync."""

    def __init__(self, counts: dict[str, Callable[[], int]]):
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "chatbot_connected_clients", "Open client connections", labels=["adapter"]
        )
        for adapter, count in self.counts.items():
            family.add_metric([adapter], count())
        yield family


class PrometheusMetrics:
    """Implements bot.metrics.Metrics. One registry per app, so tests can run many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "chatbot_messages_received", "Messages stored", ["adapter"], registry=r
        )
        self.turns = Counter(
            "chatbot_addressed_turns", "Messages addressed to the bot", ["adapter"], registry=r
        )
        self.latency = Histogram(
            "chatbot_provider_latency_seconds",
            "Model call wall time",
            ["provider"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
            registry=r,
        )
        self.tokens = Counter(
            "chatbot_tokens", "Model tokens used", ["provider", "kind"], registry=r
        )
        self.errors = Counter("chatbot_errors", "Failures by kind", ["adapter", "kind"], registry=r)
        self.provider_errors = Counter(
            "chatbot_provider_errors",
            "Failed model calls by kind",
            ["provider", "kind"],
            registry=r,
        )
        self.tool_calls = Counter(
            "chatbot_tool_calls",
            "Tool calls by tool and outcome (ok, or the error)",
            ["tool", "outcome"],
            registry=r,
        )
        self.tool_latency = Histogram(
            "chatbot_tool_latency_seconds",
            "Tool call wall time",
            ["tool"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
            registry=r,
        )
        self._clients: dict[str, Callable[[], int]] = {}
        r.register(_Clients(self._clients))

    def watch_clients(self, adapter: str, count: Callable[[], int]) -> None:
        self._clients[adapter] = count

    def message_received(self, platform: str) -> None:
        self.messages.labels(platform).inc()

    def turn_started(self, platform: str) -> None:
        self.turns.labels(platform).inc()

    def model_call(
        self, provider: str, seconds: float, reply: ModelReply | None, error: str | None
    ) -> None:
        self.latency.labels(provider).observe(seconds)
        if error is not None:
            self.provider_errors.labels(provider, error).inc()
        if reply is not None:
            self.tokens.labels(provider, "input").inc(reply.usage.input_tokens)
            self.tokens.labels(provider, "output").inc(reply.usage.output_tokens)

    def turn_failed(self, platform: str, kind: str) -> None:
        self.errors.labels(platform, kind).inc()

    def tool_call(self, tool: str, seconds: float, error: str | None) -> None:
        self.tool_calls.labels(tool, error or "ok").inc()
        self.tool_latency.labels(tool).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
