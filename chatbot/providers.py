"""Choose the providers the service uses: CHATBOT_PROVIDER, tags' own, the moderator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.moderation import Moderator
from bot.providers.base import Provider, close_provider
from bot.providers.openai_chat import build_openai_client
from bot.providers.openai_moderation import OpenAIModerator
from chatbot.config import AppSettings, ConfigError
from chatbot.provider_factory import PROVIDERS, ProviderConfig, build_provider, missing_for

if TYPE_CHECKING:
    from chatbot.model_workers import ModelWorkers


class ProviderSet:
    """Builds each named provider once, on first use; `__call__` is the core's provider_for.

    With `workers`, configured providers run in the model worker processes instead.
    """

    def __init__(
        self,
        settings: AppSettings,
        overrides: dict[str, Provider] | None = None,
        workers: ModelWorkers | None = None,
    ):
        self.config = ProviderConfig.of(settings)
        self.workers = workers
        self._given = dict(overrides or {})  # the caller's: not ours to close
        self._built: dict[str, Provider] = dict(self._given)

    def __call__(self, name: str) -> Provider:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def warm(self, names: tuple[str, ...]) -> None:
        """Build these now, at start, rather than during the first turns."""
        for name in names:
            self(name)

    async def close(self) -> None:
        for name, provider in self._built.items():
            if name not in self._given:
                await close_provider(provider)

    def _build(self, name: str) -> Provider:
        check_provider_name(name)
        if self.workers is not None and missing_for(self.config, name) is None:
            return self.workers.provider(name)
        return build_provider(self.config, name)  # says what is missing, if anything


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
    client = build_openai_client(
        settings.openai_api_key or "not-needed",
        settings.openai_base_url,
        settings.bot.model.timeout,
    )
    return OpenAIModerator(client)


def check_tag_providers(settings: AppSettings) -> None:
    """A tag's own `provider = "..."` must be one we can build."""
    for tag in settings.tags.tags.values():
        if tag.provider is not None and tag.provider not in PROVIDERS:
            raise ConfigError(
                f"{settings.tags.source}: tags.{tag.name}.provider: {tag.provider!r} is not a "
                f"provider (choose one of {', '.join(PROVIDERS)})"
            )
