"""What the Discord adapter is configured with (read from the environment by chatbot/config.py).

Kept free of discord.py, so reading the settings never imports the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token: str | None = field(default=None, repr=False)
    message_content: bool = False  # the privileged intent: also store plain channel chat
    sharded: bool = False  # AutoShardedClient, for bots in very many servers
