"""Per-source limits on addressed turns: one address cannot spend the operator's model key.

The web chat is anonymous, so every connection could ask as fast as its flood guard allows, and
several connections from one machine multiply that. Turns (not messages) are limited per source
(the client's address) with a token bucket: `burst` at once, then `per_minute`. A classroom
behind one NAT shares one address, which is what the defaults are sized for.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_SOURCES = 10_000  # buckets kept; the least recently used is dropped (it was full anyway)


class TurnLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = MAX_SOURCES,
    ):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, stamp

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def allow(self, source: str) -> bool:
        if not self.enabled:
            return True
        now = self.clock()
        tokens, stamp = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed
