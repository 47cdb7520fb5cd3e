"""Who an answer appears to come from: a persona's own name and icon, or the app with a label.

With the `chat:write.customize` scope a message (or a stream) can carry `username`,
`icon_emoji` and `icon_url`: a persona then answers under its own name and icon. Without the
scope Slack would show the app's, so the answer starts with a `*name:*` label instead (the
default persona, which is the app, never needs one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.personas import Persona

CUSTOMIZE = "chat:write.customize"


@dataclass(frozen=True, slots=True)
class Look:
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None

    def params(self) -> dict[str, str]:
        """The Web API parameters (chat.postMessage, chat.startStream, setStatus)."""
        found = {
            "username": self.username,
            "icon_emoji": self.icon_emoji,
            # Slack prefers the emoji when both are set; send only what it will use.
            "icon_url": None if self.icon_emoji else self.icon_url,
        }
        return {k: v for k, v in found.items() if v}


def looks_of(personas: Mapping[str, Persona], default: str) -> dict[str, Look]:
    """Each persona's look: its username (its name, for any but the app's own persona)."""
    looks: dict[str, Look] = {}
    for name, persona in personas.items():
        username = persona.username or (None if name == default else name)
        looks[name] = Look(username, persona.icon_emoji or None, persona.icon_url or None)
    return looks


def may_customize(scopes: Sequence[str] | None) -> bool:
    """Whether the token may post under another name; unknown scopes count as no."""
    return scopes is not None and CUSTOMIZE in scopes
