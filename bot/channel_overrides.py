"""Channel settings changed at run time (the operator's console), as the turn sees them.

They live in the database (so every process sees them and they survive a restart) and change
rarely, so the core reads them through a short-lived cache: at most one small read every `ttl`
seconds (5 by default) per process, made by whichever turn finds the copy stale. A change made
in one process is seen by the others within `ttl`; the process that made it sees it at once
(`invalidate`). If the read fails, the last copy is kept and tried again after `ttl`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable

from bot.channel_rules import ChannelOverride, ChatRules
from bot.memory import Memory
from bot.types import ChannelKey, ChannelSettings, Limit

log = logging.getLogger(__name__)

TTL_SECONDS = 5.0


def as_override(settings: ChannelSettings) -> ChannelOverride:
    return ChannelOverride(
        persona=settings.persona.lower() if settings.persona else None,
        system_prompt=settings.system_prompt,
        limits=settings.limits,
    )


class ChannelOverrides:
    def __init__(
        self,
        memory: Memory,
        rules: ChatRules,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.memory = memory
        self.file_rules = rules
        self.ttl = ttl
        self.clock = clock
        self._rules = rules
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def rules(self) -> ChatRules:
        """The file's rules with the run-time settings over them, as last read."""
        return self._rules

    def limits_for(self, channel: ChannelKey) -> tuple[Limit, ...] | None:
        """The channel's own limits (the console's, else its `[channels]` table's), or None."""
        return self._rules.for_channel(channel).limits

    def invalidate(self) -> None:
        self._loaded = float("-inf")

    def replace(self, found: Iterable[ChannelSettings]) -> None:
        overrides = {s.channel: as_override(s) for s in found}
        self._rules = dataclasses.replace(self.file_rules, overrides=overrides)
        self._loaded = self.clock()

    async def refresh(self) -> None:
        """Read the settings again if the copy is older than `ttl`."""
        if self.clock() - self._loaded < self.ttl:
            return
        async with self._lock:
            if self.clock() - self._loaded < self.ttl:
                return  # another turn refreshed it while this one waited
            try:
                self.replace(await self.memory.channel_settings())
            except Exception as exc:
                self._loaded = self.clock()  # keep the last copy; try again after ttl
                log.warning("channel settings not refreshed: %s", exc.__class__.__name__)
