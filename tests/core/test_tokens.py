"""Token counting never needs the network; the context-window table and its override."""

from __future__ import annotations

from bot.tokens import (
    DEFAULT_CONTEXT_WINDOW,
    MESSAGE_OVERHEAD,
    context_window,
    counter_for,
    estimate_tokens,
)


def test_uncached_tiktoken_falls_back_to_the_estimate() -> None:
    # conftest empties TIKTOKEN_CACHE_DIR: no encoding is cached, nothing may be downloaded
    counter_for.cache_clear()
    count = counter_for("gpt-4.1")
    assert count is estimate_tokens
    assert count("hello there") == estimate_tokens("hello there")


def test_non_openai_models_use_the_estimate() -> None:
    assert counter_for("gemini-2.5-flash") is estimate_tokens
    assert counter_for("llama3.2") is estimate_tokens


def test_estimate_is_conservative() -> None:
    assert estimate_tokens("") == MESSAGE_OVERHEAD
    # English: about 4 characters a token in reality; we count 3
    assert estimate_tokens("a" * 300) == 100 + MESSAGE_OVERHEAD
    # Korean: about one token a syllable or more in reality; we count 1.5
    assert estimate_tokens("내이름이머라고") >= 7 * 1.5


def test_context_window_table_and_override() -> None:
    assert context_window("gpt-4o-mini") == 128_000  # longest prefix wins over "gpt-4"
    assert context_window("gpt-4") == 8_192
    assert context_window("gemini-2.5-flash") == 1_048_576
    assert context_window("llama3.2") == DEFAULT_CONTEXT_WINDOW
    assert context_window("llama3.2", 32_000) == 32_000
