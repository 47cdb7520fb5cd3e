"""Settings from the environment (and a .env file, loaded by the CLI). No secret has a default.

The ecosystem's own names where one exists (OPENAI_API_KEY, OPENAI_BASE_URL, GEMINI_API_KEY,
SLACK_BOT_TOKEN, DISCORD_TOKEN ...); ours start with CHATBOT_.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.discord.app import DiscordSettings
from adapters.slack.settings import SlackSettings
from adapters.web.cors import CorsPolicy
from adapters.web.settings import MAX_CONNECTIONS_PER_ADDRESS, WebSettings
from bot.settings import (
    DEFAULT_GEMINI_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SYSTEM_PROMPT,
    BotSettings,
    ModelSettings,
)
from chatbot.tags_config import ConfigFileError, FileConfig, load_config
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
)


class ConfigError(ValueError):
    pass


def _num(env: Mapping[str, str], name: str, kind: type, default: object = None) -> object:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc


@dataclass(frozen=True, slots=True)
class AppSettings:
    bot: BotSettings = field(default_factory=BotSettings)
    database_url: str = DEFAULT_DATABASE_URL
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    redis_url: str | None = None  # set: room fan-out across processes over Redis
    model_workers: int = 0  # > 0: model calls run in that many worker processes
    cors: CorsPolicy = field(default_factory=CorsPolicy)  # other pages that may use the web chat
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # Tags, per-channel settings, commands, moderation: the TOML file in CHATBOT_CONFIG.
    tags: FileConfig = field(default_factory=lambda: load_config(None))
    slack: SlackSettings | None = None  # set when SLACK_BOT_TOKEN and a transport are
    web: WebSettings = field(default_factory=WebSettings)
    metrics: bool = True  # CHATBOT_METRICS=off removes GET /metrics
    metrics_token: str | None = field(default=None, repr=False)  # CHATBOT_METRICS_TOKEN
    api_docs: bool = False  # CHATBOT_API_DOCS=on serves FastAPI's /docs, /redoc, /openapi.json

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppSettings:
        env = os.environ if env is None else env
        provider = env.get("CHATBOT_PROVIDER", "openai").strip() or "openai"
        default_model = DEFAULT_GEMINI_MODEL if provider == "gemini" else DEFAULT_MODEL
        model = ModelSettings(
            provider=provider,
            model=env.get("CHATBOT_MODEL", "").strip() or default_model,
            temperature=_num(env, "CHATBOT_TEMPERATURE", float),  # type: ignore[arg-type]
            top_p=_num(env, "CHATBOT_TOP_P", float),  # type: ignore[arg-type]
            frequency_penalty=_num(env, "CHATBOT_FREQUENCY_PENALTY", float),  # type: ignore[arg-type]
            presence_penalty=_num(env, "CHATBOT_PRESENCE_PENALTY", float),  # type: ignore[arg-type]
            max_output_tokens=_num(env, "CHATBOT_MAX_COMPLETION_TOKENS", int, 1024),  # type: ignore[arg-type]
            timeout=_num(env, "CHATBOT_TIMEOUT", float, 60.0),  # type: ignore[arg-type]
            system_role=env.get("CHATBOT_SYSTEM_ROLE", "system").strip() or "system",
            thinking_budget=_num(env, "CHATBOT_THINKING_BUDGET", int),  # type: ignore[arg-type]
            context_window=_num(env, "CHATBOT_CONTEXT_WINDOW", int),  # type: ignore[arg-type]
        )
        if model.system_role not in ("system", "developer"):
            raise ConfigError("CHATBOT_SYSTEM_ROLE must be 'system' or 'developer'")
        bot = BotSettings(
            system_prompt=env.get("CHATBOT_SYSTEM_PROMPT", "").strip() or DEFAULT_SYSTEM_PROMPT,
            max_history_turns=_num(env, "CHATBOT_MAX_HISTORY_TURNS", int, 40),  # type: ignore[arg-type]
            max_history_tokens=_num(env, "CHATBOT_MAX_HISTORY_TOKENS", int, 12_000),  # type: ignore[arg-type]
            model=model,
            max_bot_turns=_max_bot_turns(env),
            source_turns_per_minute=_non_negative(env, "CHATBOT_WEB_TURNS_PER_MINUTE", float, 60.0),  # type: ignore[arg-type]
            source_turn_burst=_non_negative(env, "CHATBOT_WEB_TURN_BURST", int, 30),  # type: ignore[arg-type]
        )
        return cls(
            bot=bot,
            database_url=env.get("CHATBOT_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            gemini_api_key=env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None,
            gemini_base_url=env.get("GOOGLE_GEMINI_BASE_URL") or None,
            discord=discord_from_env(env),
            redis_url=env.get("CHATBOT_REDIS_URL", "").strip() or None,
            model_workers=_model_workers(env),
            cors=_cors(env),
            secrets={k: env[k] for k in SECRET_NAMES if env.get(k)},
            tags=_tags_config(env),
            slack=SlackSettings.from_env(env),
            web=web_from_env(env),
            metrics=_flag(env, "CHATBOT_METRICS", default=True),
            metrics_token=env.get("CHATBOT_METRICS_TOKEN", "").strip() or None,
            api_docs=_flag(env, "CHATBOT_API_DOCS"),
        )


def _model_workers(env: Mapping[str, str]) -> int:
    count = _num(env, "CHATBOT_MODEL_WORKERS", int, 0)
    assert isinstance(count, int)
    if not 0 <= count <= 64:
        raise ConfigError("CHATBOT_MODEL_WORKERS must be between 0 and 64")
    return count


def _cors(env: Mapping[str, str]) -> CorsPolicy:
    try:
        return CorsPolicy.parse(env.get("CHATBOT_CORS_ORIGINS"))
    except ValueError as exc:
        raise ConfigError(f"CHATBOT_CORS_ORIGINS: {exc}") from exc


def _tags_config(env: Mapping[str, str]) -> FileConfig:
    try:
        return load_config(env.get("CHATBOT_CONFIG", "").strip() or None)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from exc


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a flag (use on or off)")


def _non_negative(env: Mapping[str, str], name: str, kind: type, default: object) -> object:
    value = _num(env, name, kind, default)
    assert isinstance(value, int | float)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more")
    return value


def _max_bot_turns(env: Mapping[str, str]) -> int:
    """CHATBOT_MAX_BOT_TURNS; CHATBOT_DISCORD_MAX_BOT_TURNS is its older, Discord-only name."""
    name = "CHATBOT_MAX_BOT_TURNS"
    if not env.get(name, "").strip() and env.get("CHATBOT_DISCORD_MAX_BOT_TURNS", "").strip():
        name = "CHATBOT_DISCORD_MAX_BOT_TURNS"
    value = _non_negative(env, name, int, 3)
    assert isinstance(value, int)
    return value


def web_from_env(env: Mapping[str, str]) -> WebSettings:
    cap = _non_negative(env, "CHATBOT_WS_MAX_CONNECTIONS", int, 0)
    per_address = _non_negative(env, "CHATBOT_WS_MAX_PER_ADDRESS", int, MAX_CONNECTIONS_PER_ADDRESS)
    assert isinstance(cap, int) and isinstance(per_address, int)
    return WebSettings(
        enabled=_flag(env, "CHATBOT_WEB", default=True),
        join_token=env.get("CHATBOT_WEB_TOKEN", "").strip() or None,
        ws_rate=_non_negative(env, "CHATBOT_WS_RATE", float, 5.0),  # type: ignore[arg-type]
        ws_burst=_non_negative(env, "CHATBOT_WS_BURST", float, 10.0),  # type: ignore[arg-type]
        max_connections=cap or None,
        max_per_address=per_address or 1_000_000,
    )


def discord_from_env(env: Mapping[str, str]) -> DiscordSettings:
    return DiscordSettings(
        token=env.get("DISCORD_TOKEN", "").strip() or None,
        message_content=_flag(env, "CHATBOT_DISCORD_MESSAGE_CONTENT"),
        sharded=_flag(env, "CHATBOT_DISCORD_SHARDED"),
    )
