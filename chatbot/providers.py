"""Choose and build the providers the service uses: CHATBOT_PROVIDER, tags' own, the moderator.

Each provider's SDK is imported only when that provider is built: a service on OpenAI alone
never loads google-genai.
"""

from __future__ import annotations

from bot.moderation import Moderator
from bot.providers.base import Embedder, Provider, close_provider
from bot.providers.unconfigured import UnconfiguredProvider
from chatbot.config import AppSettings, ConfigError

PROVIDERS = ("openai", "openai-responses", "gemini")


def missing_for(settings: AppSettings, name: str) -> str | None:
    """What must be set before provider `name` can answer; None when it is ready."""
    if name == "gemini":
        return None if settings.gemini_api_key else "GEMINI_API_KEY is not set"
    if settings.openai_api_key or settings.openai_base_url:
        return None
    return "OPENAI_API_KEY is not set (or OPENAI_BASE_URL for a local server)"


def build_provider(settings: AppSettings, name: str) -> Provider:
    """Provider `name`, or one that says what is missing when it is not set up."""
    missing = missing_for(settings, name)
    if missing:
        return UnconfiguredProvider(name, missing)
    # The client's own bound is the service-wide one; a tag's `timeout` goes with each call.
    timeout = settings.bot.model.timeout
    if name == "gemini":
        from bot.providers.gemini import GeminiProvider, build_gemini_client

        assert settings.gemini_api_key is not None
        client = build_gemini_client(settings.gemini_api_key, settings.gemini_base_url, timeout)
        return GeminiProvider(client)
    from bot.providers.openai_chat import build_openai_client

    openai_client = build_openai_client(
        settings.openai_api_key or "not-needed",  # local servers (Ollama) ignore the key
        settings.openai_base_url,
        timeout,
    )
    if name == "openai-responses":
        from bot.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(openai_client)
    from bot.providers.openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(openai_client)


class ProviderSet:
    """Builds each named provider once, on first use; `__call__` is the core's provider_for."""

    def __init__(self, settings: AppSettings, overrides: dict[str, Provider] | None = None):
        self.settings = settings
        self._given = dict(overrides or {})  # the caller's: not ours to close
        self._built: dict[str, Provider] = dict(self._given)

    def __call__(self, name: str) -> Provider:
        if name not in self._built:
            check_provider_name(name)
            self._built[name] = build_provider(self.settings, name)
        return self._built[name]

    def warm(self, names: tuple[str, ...]) -> None:
        """Build these now, at start, rather than during the first turns."""
        for name in names:
            self(name)

    async def close(self) -> None:
        for name, provider in self._built.items():
            if name not in self._given:
                await close_provider(provider)


def providers_in_use(settings: AppSettings) -> tuple[str, ...]:
    """The default provider and any a tag names, each once."""
    names = [settings.bot.model.provider]
    names += [t.provider for t in settings.tags.tags.values() if t.provider is not None]
    return tuple(dict.fromkeys(names))


def check_provider_name(name: str) -> None:
    if name not in PROVIDERS:
        raise ConfigError(f"CHATBOT_PROVIDER={name!r}: choose one of {', '.join(PROVIDERS)}")


def build_moderator(settings: AppSettings) -> Moderator:
    """`moderation = true` in the configuration file: the OpenAI moderation endpoint."""
    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("moderation = true needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
    from bot.providers.openai_chat import build_openai_client
    from bot.providers.openai_moderation import OpenAIModerator

    client = build_openai_client(
        settings.openai_api_key or "not-needed",
        settings.openai_base_url,
        settings.bot.model.timeout,
    )
    return OpenAIModerator(client)


def build_embedder(settings: AppSettings) -> Embedder | None:
    """CHATBOT_EMBEDDING_MODEL: an embedder for semantic recall, or None (full text only)."""
    memory = settings.bot.memory
    if memory.embedding_model is None:
        return None
    missing = missing_for(settings, memory.embedding_provider)
    if missing:
        raise ConfigError(f"CHATBOT_EMBEDDING_MODEL is set, but {missing}")
    timeout = settings.bot.model.timeout
    if memory.embedding_provider == "gemini":
        from bot.providers.embeddings import GeminiEmbedder
        from bot.providers.gemini import build_gemini_client

        assert settings.gemini_api_key is not None
        client = build_gemini_client(settings.gemini_api_key, settings.gemini_base_url, timeout)
        return GeminiEmbedder(client, memory.embedding_model)
    from bot.providers.embeddings import OpenAIEmbedder
    from bot.providers.openai_chat import build_openai_client

    openai_client = build_openai_client(
        settings.openai_api_key or "not-needed", settings.openai_base_url, timeout
    )
    return OpenAIEmbedder(openai_client, memory.embedding_model)


def check_tag_providers(settings: AppSettings) -> None:
    """A tag's own `provider = "..."` must be one we can build."""
    for tag in settings.tags.tags.values():
        if tag.provider is not None and tag.provider not in PROVIDERS:
            raise ConfigError(
                f"{settings.tags.source}: tags.{tag.name}.provider: {tag.provider!r} is not a "
                f"provider (choose one of {', '.join(PROVIDERS)})"
            )
