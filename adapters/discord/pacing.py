"""One budget per Discord channel for the messages every answer streaming there creates and edits.

Discord allows about 5 new messages and 5 edits per 5 seconds in a channel (its buckets are per
channel, whoever the message belongs to), and discord.py waits out a spent bucket, which would
hold up every answer in that channel behind optional streaming edits. So the adapter counts what
it sends and edits in each channel over the window, and a streaming update (the placeholder, an
intermediate edit: the core asks through `may_update`) only goes while fewer than
`limit - reserve` were made: the first message of the next answer and every final text, which
are never skipped, still fit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

DISCORD_LIMIT = 5  # messages created, and separately messages edited, per channel ...
DISCORD_WINDOW = 5.0  # ... per this many seconds (Discord's documented-by-header buckets)
RESERVE = 2  # of those, kept for what is never skipped
_MAX_CHANNELS = 10_000


class ChannelPacer:
    def __init__(
        self,
        limit: int = DISCORD_LIMIT,
        window: float = DISCORD_WINDOW,
        reserve: int = RESERVE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.window = window
        self.reserve = reserve
        self.clock = clock
        self._calls: dict[int, deque[float]] = {}

    def _recent(self, channel_id: int) -> deque[float]:
        calls = self._calls.get(channel_id)
        if calls is None:
            if len(self._calls) >= _MAX_CHANNELS:
                self._forget_idle()
            calls = self._calls[channel_id] = deque()
        horizon = self.clock() - self.window
        while calls and calls[0] <= horizon:
            calls.popleft()
        return calls

    def _forget_idle(self) -> None:
        horizon = self.clock() - self.window
        for channel_id in [
            c for c, calls in self._calls.items() if not calls or calls[-1] <= horizon
        ]:
            del self._calls[channel_id]

    def may_update(self, channel_id: int) -> bool:
        """Room for an optional streaming update in this channel now?"""
        return len(self._recent(channel_id)) < self.limit - self.reserve

    def spent(self, channel_id: int) -> None:
        """A message was created or edited in this channel (optional or not)."""
        self._recent(channel_id).append(self.clock())
