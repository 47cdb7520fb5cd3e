"""Each provider's usage shape, read by the real SDK from the stub, priced from the shipped table.

Chat Completions (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`),
Responses (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`) and Gemini
(`promptTokenCount`, `candidatesTokenCount` + `thoughtsTokenCount`, `cachedContentTokenCount`):
the stored answer carries the cost the table gives for exactly those numbers, and the counters
count it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.types import CounterKey
from testing.stubs.model_server import Reply
from testing.stubs.provider_server import GeminiReply, ProviderServer
from tests.helpers import Client, start_app
from tests.provider_helpers import provider_settings

# USD per million tokens in chatbot/default_config.toml (as of 2025-08-15).
GPT_41 = (2.00, 0.50, 8.00)  # input, cached input, output
GEMINI_FLASH = (0.30, 0.075, 2.50)


def expected(prices: tuple[float, float, float], prompt: int, cached: int, output: int) -> float:
    fresh_price, cached_price, output_price = prices
    return ((prompt - cached) * fresh_price + cached * cached_price + output * output_price) / 1e6


@pytest.mark.parametrize("provider", ["openai", "openai-responses"])
async def test_openai_usage_shapes_are_priced_with_cached_input(
    provider: str, db_url: str, pserver: ProviderServer
) -> None:
    # The server reports a dated model: the family's price applies. Reasoning tokens are
    # part of the output count already.
    pserver.then(
        Reply(
            "priced",
            usage=(12_000, 3_000),
            cached=8_000,
            reasoning=1_000,
            model="gpt-4.1-2025-04-14",
        )
    )
    app = await start_app(provider_settings(db_url, pserver, provider))
    try:
        alice = await Client.connect(app.ws_url("alice"))
        await alice.say("@chatbot price this")
        assert (await alice.answer())["message"] == "priced"
        await alice.close()
        store = app.app.state.store
        answer = (await store.recent("web:lobby", 5))[-1]
        today = datetime.now(UTC).date()
        [count] = await store.spent([CounterKey("user", "web:alice")], today)
    finally:
        await app.stop()
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.cached_input_tokens) == (12_000, 8_000)
    assert answer.usage.model == "gpt-4.1-2025-04-14"
    cost = expected(GPT_41, 12_000, 8_000, 3_000)  # $0.036
    assert answer.usage.cost_usd == pytest.approx(cost)
    assert (count.tokens, count.cost_usd, count.answers) == (15_000, pytest.approx(cost), 1)


async def test_gemini_usage_shape_is_priced_with_thoughts_and_cache(
    db_url: str, pserver: ProviderServer
) -> None:
    pserver.then(
        GeminiReply(
            "생각한 답",
            thought="hidden",
            usage=(40_000, 2_000),
            thoughts_tokens=6_000,
            cached=30_000,
            model_version="gemini-2.5-flash-preview-05-20",
        )
    )
    app = await start_app(provider_settings(db_url, pserver, "gemini"))
    try:
        minho = await Client.connect(app.ws_url("minho"))
        await minho.say("@chatbot 생각해봐")
        assert (await minho.answer())["message"] == "생각한 답"
        await minho.close()
        answer = (await app.app.state.store.recent("web:lobby", 5))[-1]
    finally:
        await app.stop()
    assert answer.usage is not None
    # Thought tokens are billed as output; cached content is part of the prompt count.
    assert (answer.usage.output_tokens, answer.usage.cached_input_tokens) == (8_000, 30_000)
    assert answer.usage.cost_usd == pytest.approx(expected(GEMINI_FLASH, 40_000, 30_000, 8_000))


async def test_a_model_without_a_price_stores_no_cost_but_counts_its_tokens(
    db_url: str, pserver: ProviderServer
) -> None:
    pserver.then(Reply("local", usage=(100, 20), model="llama3.2"))
    app = await start_app(provider_settings(db_url, pserver, "openai", CHATBOT_MODEL="llama3.2"))
    try:
        bob = await Client.connect(app.ws_url("bob"))
        await bob.say("@chatbot hi")
        await bob.answer()
        await bob.close()
        store = app.app.state.store
        answer = (await store.recent("web:lobby", 5))[-1]
        [count] = await store.spent([CounterKey("user", "web:bob")], datetime.now(UTC).date())
    finally:
        await app.stop()
    assert answer.usage is not None and answer.usage.cost_usd is None
    assert (count.tokens, count.cost_usd) == (120, 0.0)
