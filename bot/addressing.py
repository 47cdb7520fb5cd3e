"""Is a message addressed to the bot, by which tag, and what is left once the tag is gone."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# After the tag: the end, whitespace, or a `,` / `:` separator (which is eaten).
_AFTER_TAG = re.compile(r"(?:[\s,:]+|$)")


@dataclass(frozen=True, slots=True)
class Addressed:
    tag: str  # the tag's canonical name, lower case
    text: str  # the message with the tag stripped


class TagParser:
    """Longest matching `@tag` at the start of a message, case-insensitive.

    `@chatbotx` is not `@chatbot`: a tag must be followed by the end, whitespace, `,` or `:`.
    """

    def __init__(self, tags: Iterable[str]):
        # Longest first, so `@chatbot-pro` beats `@chatbot` when both exist.
        self._tags = sorted({t.lower() for t in tags}, key=len, reverse=True)

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    def parse(self, text: str) -> Addressed | None:
        stripped = text.lstrip()
        if not stripped.startswith("@"):
            return None
        lowered = stripped.lower()
        for tag in self._tags:
            if not lowered.startswith("@" + tag):
                continue
            rest = stripped[len(tag) + 1 :]
            after = _AFTER_TAG.match(rest)
            if after is None:
                continue
            return Addressed(tag=tag, text=rest[after.end() :].strip())
        return None
