"""What the Discord adapter is configured with (read from the environment by chatbot/config.py).

Kept free of discord.py, so reading the settings never imports the SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token: str | None = field(default=None, repr=False)
    message_content: bool = False  # the privileged intent: also store plain channel chat
    sharded: bool = False  # AutoShardedClient, for bots in very many servers
    # This process's shards (CHATBOT_DISCORD_SHARDS=0-3); None: every shard of `shard_count`.
    shard_ids: tuple[int, ...] | None = None
    # All shards of the bot across processes; None with `sharded`: as many as Discord advises.
    shard_count: int | None = None
    # Servers to register the application commands in (instant); empty: globally.
    guilds: tuple[int, ...] = ()

    @property
    def syncs_commands(self) -> bool:
        """One process registers the commands: the one that runs shard 0 (or the only one)."""
        return self.shard_ids is None or 0 in self.shard_ids


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """`0-3`, `4,5`, `0-1,6`: the shard ids, sorted, each once. Raises ValueError."""
    ids: set[int] = set()
    for part in text.split(","):
        found = _RANGE.match(part.strip())
        if found is None:
            raise ValueError(f"{part.strip()!r} is not a shard id or a range like 0-3")
        low = int(found.group(1))
        high = int(found.group(2) or low)
        if high < low:
            raise ValueError(f"{part.strip()!r} counts down")
        ids.update(range(low, high + 1))
    return tuple(sorted(ids))


def parse_guild_ids(text: str) -> tuple[int, ...]:
    """Comma-separated server ids (snowflakes). Raises ValueError."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise ValueError(f"{part!r} is not a server id (digits only)")
        ids.append(int(part))
    return tuple(dict.fromkeys(ids))
