"""Settings from the environment (and a .env file, loaded by the CLI): the one place that reads it.

The ecosystem's own names where one exists (OPENAI_API_KEY, OPENAI_BASE_URL, GEMINI_API_KEY,
SLACK_BOT_TOKEN, DISCORD_TOKEN ...); ours start with CHATBOT_. No secret has a default. Every
adapter's settings are plain dataclasses in its package (`adapters/<platform>/settings.py`):
reading them never imports a platform SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.discord.settings import DiscordSettings
from adapters.slack.settings import DEFAULT_API_URL, SlackSettings
from adapters.web.cors import CorsPolicy
from adapters.web.settings import MAX_CONNECTIONS_PER_ADDRESS, WebSettings
from bot.settings import (
    DEFAULT_GEMINI_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SYSTEM_PROMPT,
    BotSettings,
    MemorySettings,
    ModelSettings,
)
from chatbot.model_keys import MODEL_KEYS
from chatbot.tags_config import ConfigFileError, FileConfig, build_spending, load_config
from memory.store import DEFAULT_DATABASE_URL

SECRET_NAMES = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "DISCORD_TOKEN",
    "CHATBOT_WEB_TOKEN",
    "CHATBOT_METRICS_TOKEN",
    "CHATBOT_ADMIN_TOKEN",
)


class ConfigError(ValueError):
    pass


class Env:
    """Typed reads of the environment; an unusable value is a ConfigError naming it."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, name: str) -> str | None:
        return self.env.get(name, "").strip() or None

    def _parsed(self, name: str, kind: type[int] | type[float]) -> int | float | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = kind(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
        if value < 0:
            raise ConfigError(f"{name} must be 0 or more")
        return value

    def number(self, name: str, default: float) -> float:
        value = self._parsed(name, float)
        return default if value is None else float(value)

    def count(self, name: str, default: int) -> int:
        value = self._parsed(name, int)
        return default if value is None else int(value)

    def flag(self, name: str, default: bool = False) -> bool:
        raw = (self.text(name) or "").lower()
        if not raw:
            return default
        if raw in ("0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise ConfigError(f"{name}={raw!r} is not a flag (use on or off)")


@dataclass(frozen=True, slots=True)
class AppSettings:
    bot: BotSettings = field(default_factory=BotSettings)
    database_url: str = DEFAULT_DATABASE_URL
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str | None = None
    redis_url: str | None = None  # set: room fan-out across processes over Redis
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # Tags, per-channel settings, commands, moderation: the TOML file in CHATBOT_CONFIG.
    tags: FileConfig = field(default_factory=lambda: load_config(None))
    web: WebSettings = field(default_factory=WebSettings)
    cors: CorsPolicy = field(default_factory=CorsPolicy)  # other pages that may use the web chat
    slack: SlackSettings | None = None  # set when SLACK_BOT_TOKEN and a transport are
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    metrics: bool = True  # CHATBOT_METRICS=off removes GET /metrics
    metrics_token: str | None = field(default=None, repr=False)  # CHATBOT_METRICS_TOKEN
    api_docs: bool = False  # CHATBOT_API_DOCS=on serves FastAPI's /docs, /redoc, /openapi.json
    # CHATBOT_ADMIN_TOKEN: the operator's console at GET /admin (chatbot/console/); None: off.
    admin_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppSettings:
        read = Env(os.environ if env is None else env)
        tags = _tags_config(read)
        bot = bot_from_env(read)
        return cls(
            bot=replace(bot, memory=memory_settings(read, tags), spending=build_spending(tags)),
            database_url=read.text("CHATBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            openai_api_key=read.text("OPENAI_API_KEY"),
            openai_base_url=read.text("OPENAI_BASE_URL"),
            gemini_api_key=read.text("GEMINI_API_KEY") or read.text("GOOGLE_API_KEY"),
            gemini_base_url=read.text("GOOGLE_GEMINI_BASE_URL"),
            redis_url=read.text("CHATBOT_REDIS_URL"),
            secrets={k: v for k in SECRET_NAMES if (v := read.text(k))},
            tags=tags,
            web=web_from_env(read),
            cors=_cors(read),
            slack=slack_from_env(read),
            discord=discord_from_env(read),
            metrics=read.flag("CHATBOT_METRICS", default=True),
            metrics_token=read.text("CHATBOT_METRICS_TOKEN"),
            api_docs=read.flag("CHATBOT_API_DOCS"),
            admin_token=_admin_token(read),
        )


def model_from_env(read: Env) -> ModelSettings:
    """Every ModelSettings field from its variable (chatbot/model_keys.py); unset: the default."""
    provider = read.text("CHATBOT_PROVIDER") or "openai"
    changes: dict[str, Any] = {
        "provider": provider,
        "model": DEFAULT_GEMINI_MODEL if provider == "gemini" else DEFAULT_MODEL,
    }
    for key in MODEL_KEYS.values():
        raw = read.text(key.env)
        if raw is None:
            continue
        try:
            changes[key.name] = key.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{key.env}={raw!r} is not a valid {key.kind.__name__}") from exc
    model = ModelSettings(**changes)  # each value parsed to its field's type by key.parse
    if model.system_role not in ("system", "developer"):
        raise ConfigError("CHATBOT_SYSTEM_ROLE must be 'system' or 'developer'")
    return model


def bot_from_env(read: Env) -> BotSettings:
    # CHATBOT_DISCORD_MAX_BOT_TURNS is the older, Discord-only name of CHATBOT_MAX_BOT_TURNS.
    bot_turns = "CHATBOT_MAX_BOT_TURNS"
    if read.text(bot_turns) is None and read.text("CHATBOT_DISCORD_MAX_BOT_TURNS") is not None:
        bot_turns = "CHATBOT_DISCORD_MAX_BOT_TURNS"
    return BotSettings(
        system_prompt=read.text("CHATBOT_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
        max_history_turns=read.count("CHATBOT_MAX_HISTORY_TURNS", 40),
        max_history_tokens=read.count("CHATBOT_MAX_HISTORY_TOKENS", 12_000),
        model=model_from_env(read),
        max_bot_turns=read.count(bot_turns, 3),
        source_turns_per_minute=read.number("CHATBOT_WEB_TURNS_PER_MINUTE", 60.0),
        source_turn_burst=read.count("CHATBOT_WEB_TURN_BURST", 30),
    )


def memory_settings(read: Env, tags: FileConfig) -> MemorySettings:
    """The TOML's `[memory]` table, plus CHATBOT_EMBEDDING_MODEL / _PROVIDER for semantic recall."""
    provider = read.text("CHATBOT_EMBEDDING_PROVIDER")
    if provider is None:
        provider = "gemini" if read.text("CHATBOT_PROVIDER") == "gemini" else "openai"
    if provider not in ("openai", "gemini"):
        raise ConfigError("CHATBOT_EMBEDDING_PROVIDER must be 'openai' or 'gemini'")
    return MemorySettings(
        **tags.memory,
        embedding_model=read.text("CHATBOT_EMBEDDING_MODEL"),
        embedding_provider=provider,
    )


def web_from_env(read: Env) -> WebSettings:
    per_address = read.count("CHATBOT_WS_MAX_PER_ADDRESS", MAX_CONNECTIONS_PER_ADDRESS)
    return WebSettings(
        enabled=read.flag("CHATBOT_WEB", default=True),
        join_token=read.text("CHATBOT_WEB_TOKEN"),
        ws_rate=read.number("CHATBOT_WS_RATE", 5.0),
        ws_burst=read.number("CHATBOT_WS_BURST", 10.0),
        max_connections=read.count("CHATBOT_WS_MAX_CONNECTIONS", 0) or None,
        max_per_address=per_address or 1_000_000,
    )


def slack_from_env(read: Env) -> SlackSettings | None:
    """None unless SLACK_BOT_TOKEN and a transport (signing secret or app token) are set."""
    token = read.text("SLACK_BOT_TOKEN")
    secret = read.text("SLACK_SIGNING_SECRET")
    app_token = read.text("SLACK_APP_TOKEN")
    if token is None or not (secret or app_token):
        return None
    return SlackSettings(
        bot_token=token,
        signing_secret=secret,
        app_token=app_token,
        api_url=read.text("SLACK_API_URL") or DEFAULT_API_URL,
    )


def discord_from_env(read: Env) -> DiscordSettings:
    return DiscordSettings(
        token=read.text("DISCORD_TOKEN"),
        message_content=read.flag("CHATBOT_DISCORD_MESSAGE_CONTENT"),
        sharded=read.flag("CHATBOT_DISCORD_SHARDED"),
    )


def _cors(read: Env) -> CorsPolicy:
    try:
        return CorsPolicy.parse(read.text("CHATBOT_CORS_ORIGINS"))
    except ValueError as exc:
        raise ConfigError(f"CHATBOT_CORS_ORIGINS: {exc}") from exc


MIN_ADMIN_TOKEN = 16  # characters: the console's login is the token alone


def _admin_token(read: Env) -> str | None:
    token = read.text("CHATBOT_ADMIN_TOKEN")
    if token is not None and len(token) < MIN_ADMIN_TOKEN:
        raise ConfigError(
            f"CHATBOT_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return token


def _tags_config(read: Env) -> FileConfig:
    try:
        return load_config(read.text("CHATBOT_CONFIG"))
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from exc
