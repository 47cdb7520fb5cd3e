"""What an answer cost: the provider's usage priced from the configured table (`[prices]`).

Prices are USD per million tokens, per model, as the providers publish them (the TOML ships a
dated table for the default models). A model is found by its longest listed prefix, so the
dated versions a provider reports (`gpt-4.1-2025-04-14`) take their family's price and
`gpt-4.1-mini` is not priced as `gpt-4.1`. Cached input tokens (a prompt prefix the provider
served from its cache) take `cached_input` when it is listed, else the input price.

The result is an estimate of the provider's list price for the tokens it reported: no taxes,
no batch or free-tier discounts, no long-context surcharges, nothing for tools or storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.types import Usage

PER = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens (thinking/reasoning tokens included)
    cached_input: float | None = None  # USD per million cached input tokens; None: `input`


@dataclass(frozen=True, slots=True)
class PriceTable:
    models: Mapping[str, Price] = field(default_factory=dict)
    as_of: str = ""  # when the prices were copied from the providers' pages

    def price_of(self, model: str) -> Price | None:
        """The longest listed prefix of `model` (lower case, without a `models/` prefix)."""
        name = model.lower().removeprefix("models/")
        best: str | None = None
        for listed in self.models:
            if name.startswith(listed.lower()) and (best is None or len(listed) > len(best)):
                best = listed
        return self.models[best] if best is not None else None

    def cost(self, usage: Usage, fallback_model: str = "") -> float | None:
        """The estimated USD cost of `usage`; None when neither its model nor `fallback_model`
        (the model that was asked for) has a price."""
        price = self.price_of(usage.model) if usage.model else None
        if price is None and fallback_model:
            price = self.price_of(fallback_model)
        if price is None:
            return None
        cached = min(max(usage.cached_input_tokens, 0), usage.input_tokens)
        fresh = usage.input_tokens - cached
        cached_price = price.input if price.cached_input is None else price.cached_input
        return (
            fresh * price.input + cached * cached_price + usage.output_tokens * price.output
        ) / PER

    def priced(self, usage: Usage, fallback_model: str = "") -> Usage:
        return replace(usage, cost_usd=self.cost(usage, fallback_model))
