"""Split a long answer into parts under a platform's limit, keeping code fences valid.

Cuts prefer a paragraph break, then a line break, then a sentence end, then a space. When a
cut falls inside a ``` code block, the part is closed with ``` and the next part reopens the
block with the same language. `measure` is `len` for character limits (Discord) and a byte
count for byte limits (Slack).
"""

from __future__ import annotations

import re
from collections.abc import Callable

FENCE = "```"
_CLOSE = "\n" + FENCE
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s)")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def open_fence(text: str) -> str | None:
    """The info string (language) of a code block left open at the end of `text`, else None."""
    lang: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE):
            lang = None if lang is not None else stripped[len(FENCE) :].strip()
    return lang


def _max_prefix(text: str, budget: int, measure: Callable[[str], int]) -> int:
    """The largest n with measure(text[:n]) <= budget (measure grows with n)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _best_cut(text: str, lo: int, hi: int) -> int:
    """Where to cut text[:hi]; never at or before lo. Prefer natural boundaries in the back half."""
    floor = max(lo + 1, hi // 2)
    window = text[:hi]
    for sep in ("\n\n", "\n"):
        at = window.rfind(sep, floor)
        if at != -1:
            return at + len(sep)
    ends = [m.end() for m in _SENTENCE_END.finditer(window, floor)]
    if ends:
        return ends[-1]
    at = window.rfind(" ", floor)
    if at != -1:
        return at + 1
    return hi


def split_message(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    if limit < 32:
        raise ValueError("limit too small to split sensibly")
    parts: list[str] = []
    prefix = ""  # a reopened fence carried into the next part
    rest = text
    while rest:
        candidate = prefix + rest
        if measure(candidate) <= limit:
            parts.append(candidate)
            break
        hi = _max_prefix(candidate, limit - measure(_CLOSE), measure)
        cut = _best_cut(candidate, len(prefix), hi)
        chunk, rest = candidate[:cut], candidate[cut:]
        lang = open_fence(chunk)
        if lang is not None:
            chunk = chunk.rstrip("\n") + _CLOSE
            prefix = f"{FENCE}{lang}\n"
            rest = rest[1:] if rest.startswith("\n") else rest
        else:
            chunk = chunk.rstrip()
            prefix = ""
            rest = rest.lstrip()
        if chunk.strip():
            parts.append(chunk)
    return parts
