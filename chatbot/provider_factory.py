"""How to build a provider from its settings: in the server, and in each model worker process.

Kept light on purpose: a model worker imports this module, not the whole configuration (Discord,
Slack, tags). Each provider's SDK is imported only when that provider is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.providers.base import Provider
from bot.providers.unconfigured import UnconfiguredProvider

if TYPE_CHECKING:
    from chatbot.config import AppSettings

PROVIDERS = ("openai", "openai-responses", "gemini")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What building a provider needs (sent to the model workers: chatbot/model_workers.py)."""

    openai_api_key: str | None
    openai_base_url: str | None
    gemini_api_key: str | None
    gemini_base_url: str | None
    timeout: float

    @classmethod
    def of(cls, settings: AppSettings) -> ProviderConfig:
        return cls(
            openai_api_key=settings.openai_api_key,
            openai_base_url=settings.openai_base_url,
            gemini_api_key=settings.gemini_api_key,
            gemini_base_url=settings.gemini_base_url,
            timeout=settings.bot.model.timeout,
        )


def missing_for(config: ProviderConfig, name: str) -> str | None:
    """What must be set before provider `name` can answer; None when it is ready."""
    if name == "gemini":
        return None if config.gemini_api_key else "GEMINI_API_KEY is not set"
    if config.openai_api_key or config.openai_base_url:
        return None
    return "OPENAI_API_KEY is not set (or OPENAI_BASE_URL for a local server)"


def provider_class(name: str) -> type[Provider]:
    """The class behind a provider name (one of PROVIDERS)."""
    if name == "gemini":
        from bot.providers.gemini import GeminiProvider

        return GeminiProvider
    if name == "openai-responses":
        from bot.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider
    if name == "openai":
        from bot.providers.openai_chat import OpenAIChatProvider

        return OpenAIChatProvider
    raise ValueError(f"unknown provider {name!r}")


def build_provider(config: ProviderConfig, name: str) -> Provider:
    """Provider `name` in this process; one that says what is missing when it is not set up."""
    missing = missing_for(config, name)
    if missing:
        return UnconfiguredProvider(name, missing)
    if name == "gemini":
        from bot.providers.gemini import GeminiProvider, build_gemini_client

        assert config.gemini_api_key is not None
        return GeminiProvider(
            build_gemini_client(config.gemini_api_key, config.gemini_base_url, config.timeout)
        )
    from bot.providers.openai_chat import build_openai_client

    client = build_openai_client(
        config.openai_api_key or "not-needed",  # local servers (Ollama) ignore the key
        config.openai_base_url,
        config.timeout,
    )
    return provider_class(name)(client)  # type: ignore[call-arg]
