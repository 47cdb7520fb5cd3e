"""Token counting for the context budget, and the table of context windows.

tiktoken downloads its encodings on first use and this service must work offline, so we only
use tiktoken when the encoding file is already in its cache (TIKTOKEN_CACHE_DIR, or tiktoken's
default cache folder). Otherwise, and for non-OpenAI models, we use a conservative estimate:
one token per 3 ASCII characters and 1.5 tokens per other character (Korean, CJK, emoji), plus
4 tokens of per-message overhead. It over-counts English by about 30% and Korean a little,
so the budget errs on the side of sending less, never more, than fits.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 4

# Context windows in tokens, by model-name prefix (longest prefix wins). Unknown models get
# DEFAULT_CONTEXT_WINDOW, which is small on purpose: local servers (Ollama) often run 8k.
# Override per model with the `context_window` setting.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gemini-2.5": 1_048_576,
    "gemini-2.0": 1_048_576,
    "gemini-1.5": 1_048_576,
}
DEFAULT_CONTEXT_WINDOW = 8_192

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def context_window(model: str, override: int | None = None) -> int:
    if override:
        return override
    best = ""
    for prefix in CONTEXT_WINDOWS:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return CONTEXT_WINDOWS[best] if best else DEFAULT_CONTEXT_WINDOW


def estimate_tokens(text: str) -> int:
    ascii_chars = len(text.encode("ascii", "ignore"))  # the characters below 128
    other = len(text) - ascii_chars
    return math.ceil(ascii_chars / 3 + other * 1.5) + MESSAGE_OVERHEAD


def _cached_encoding_file(name: str) -> bool:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir or name not in _ENCODING_URLS:
        return False
    key = hashlib.sha1(_ENCODING_URLS[name].encode()).hexdigest()
    return os.path.exists(os.path.join(cache_dir, key))


@lru_cache(maxsize=16)
def counter_for(model: str) -> Callable[[str], int]:
    """A function that counts the tokens of one message's text for `model`."""
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model

        name = encoding_name_for_model(model)
    except Exception:  # not an OpenAI model name, or tiktoken missing
        return estimate_tokens
    if not _cached_encoding_file(name):
        log.info("tiktoken encoding %s not cached; using the conservative estimate", name)
        return estimate_tokens
    try:
        enc = tiktoken.get_encoding(name)
    except Exception as exc:  # corrupt cache, hash mismatch: never crash for a count
        log.warning("tiktoken could not load %s (%s); using the estimate", name, exc)
        return estimate_tokens
    return lambda text: len(enc.encode(text, disallowed_special=())) + MESSAGE_OVERHEAD
