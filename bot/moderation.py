"""Optional moderation of incoming messages (off by default; `moderation = true` turns it on)."""

from __future__ import annotations

from typing import Protocol

REFUSAL = (
    "Sorry, I can't respond to that message. If you are going through something hard, "
    "please talk to someone you trust or a local helpline."
)


class Moderator(Protocol):
    async def flagged(self, text: str) -> bool:
        """True when the text should not go to a model. Raises on transport failure."""
        ...
