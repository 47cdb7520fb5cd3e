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

from adapters.discord.settings import DiscordSettings, parse_guild_ids, parse_shard_ids
from adapters.files import DEFAULT_FILE_HOSTS
from adapters.slack.settings import DEFAULT_API_URL, DEFAULT_COMMAND, STATUS_MODES, SlackSettings
from adapters.web.cors import CorsPolicy
from adapters.web.settings import MAX_CONNECTIONS_PER_ADDRESS, WebSettings
from bot.settings import (
    DEFAULT_GEMINI_MODEL,
    DEFAULT_MODEL,
    DEFAULT_SYSTEM_PROMPT,
    BotSettings,
    FileLimits,
    MemorySettings,
    ModelSettings,
)
from chatbot.model_keys import MODEL_KEYS
from chatbot.tags_config import ConfigFileError, FileConfig, build_spending, load_config
from memory.files import INLINE_MAX
from memory.store import DEFAULT_DATABASE_URL

SECRET_NAMES = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_SECRET",
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
    slack: SlackSettings | None = None  # set when a token (or an OAuth app) and a transport are
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    metrics: bool = True  # CHATBOT_METRICS=off removes GET /metrics
    metrics_token: str | None = field(default=None, repr=False)  # CHATBOT_METRICS_TOKEN
    api_docs: bool = False  # CHATBOT_API_DOCS=on serves FastAPI's /docs, /redoc, /openapi.json
    # Attachments: where their bytes go (memory/files.py) and the hosts they may come from.
    files_dir: str | None = None  # CHATBOT_FILES_DIR; None: beside the SQLite file
    files_inline_max: int = INLINE_MAX  # CHATBOT_FILES_INLINE_MAX: bytes kept in the database
    file_hosts: tuple[str, ...] = DEFAULT_FILE_HOSTS  # CHATBOT_FILE_HOSTS
    # CHATBOT_ADMIN_TOKEN: the operator's console at GET /admin (chatbot/console/); None: off.
    admin_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppSettings:
        read = Env(os.environ if env is None else env)
        tags = _tags_config(read)
        bot = bot_from_env(read)
        database_url = read.text("CHATBOT_DATABASE_URL") or DEFAULT_DATABASE_URL
        hosts = read.text("CHATBOT_FILE_HOSTS")
        file_hosts = (
            tuple(h.strip() for h in hosts.split(",") if h.strip()) if hosts else DEFAULT_FILE_HOSTS
        )
        return cls(
            bot=replace(
                bot,
                memory=memory_settings(read, tags),
                spending=build_spending(tags),
                max_tool_rounds=tags.max_tool_rounds,
                tool_timeout=tags.tool_timeout,
            ),
            database_url=database_url,
            openai_api_key=read.text("OPENAI_API_KEY"),
            openai_base_url=read.text("OPENAI_BASE_URL"),
            gemini_api_key=read.text("GEMINI_API_KEY") or read.text("GOOGLE_API_KEY"),
            gemini_base_url=read.text("GOOGLE_GEMINI_BASE_URL"),
            redis_url=read.text("CHATBOT_REDIS_URL"),
            secrets={k: v for k in SECRET_NAMES if (v := read.text(k))},
            tags=tags,
            web=web_from_env(read),
            cors=_cors(read),
            slack=slack_from_env(read, database_url),
            discord=discord_from_env(read),
            metrics=read.flag("CHATBOT_METRICS", default=True),
            metrics_token=read.text("CHATBOT_METRICS_TOKEN"),
            api_docs=read.flag("CHATBOT_API_DOCS"),
            files_dir=read.text("CHATBOT_FILES_DIR"),
            files_inline_max=read.count("CHATBOT_FILES_INLINE_MAX", INLINE_MAX),
            file_hosts=file_hosts,
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
        files=files_from_env(read),
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


def files_from_env(read: Env) -> FileLimits:
    d = FileLimits()
    limits = FileLimits(
        max_bytes=read.count("CHATBOT_FILE_MAX_BYTES", d.max_bytes),
        max_files=read.count("CHATBOT_FILE_MAX_COUNT", d.max_files),
        max_pixels=read.count("CHATBOT_IMAGE_MAX_PIXELS", d.max_pixels),
        max_side=read.count("CHATBOT_IMAGE_MAX_SIDE", d.max_side),
        images_per_turn=read.count("CHATBOT_IMAGES_PER_TURN", d.images_per_turn),
        text_max_chars=read.count("CHATBOT_TEXT_FILE_MAX_CHARS", d.text_max_chars),
    )
    if limits.max_side < 16:
        raise ConfigError("CHATBOT_IMAGE_MAX_SIDE must be at least 16")
    return limits


def web_from_env(read: Env) -> WebSettings:
    per_address = read.count("CHATBOT_WS_MAX_PER_ADDRESS", MAX_CONNECTIONS_PER_ADDRESS)
    return WebSettings(
        enabled=read.flag("CHATBOT_WEB", default=True),
        join_token=read.text("CHATBOT_WEB_TOKEN"),
        ws_rate=read.number("CHATBOT_WS_RATE", 5.0),
        ws_burst=read.number("CHATBOT_WS_BURST", 10.0),
        max_connections=read.count("CHATBOT_WS_MAX_CONNECTIONS", 0) or None,
        max_per_address=per_address or 1_000_000,
        uploads_per_minute=read.number("CHATBOT_WEB_UPLOADS_PER_MINUTE", 60.0),
        upload_burst=read.count("CHATBOT_WEB_UPLOAD_BURST", 20),
    )


def slack_from_env(read: Env, database_url: str = DEFAULT_DATABASE_URL) -> SlackSettings | None:
    """None unless a way in (SLACK_BOT_TOKEN for one workspace, or SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET for installing to many) and a transport (signing secret or app token)
    are set."""
    token = read.text("SLACK_BOT_TOKEN")
    secret = read.text("SLACK_SIGNING_SECRET")
    app_token = read.text("SLACK_APP_TOKEN")
    client_id = read.text("SLACK_CLIENT_ID")
    client_secret = read.text("SLACK_CLIENT_SECRET")
    if (client_id is None) != (client_secret is None):
        raise ConfigError(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both or neither"
        )
    if client_id is not None and token is not None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is for one workspace, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for "
            "installing to many (OAuth): set one or the other"
        )
    if (token is None and client_id is None) or not (secret or app_token):
        return None
    command = read.text("CHATBOT_SLACK_COMMAND") or DEFAULT_COMMAND
    if not command.startswith("/") or not command[1:] or any(c.isspace() for c in command):
        raise ConfigError(f"CHATBOT_SLACK_COMMAND={command!r} is not a slash command (/chatbot)")
    status = (read.text("CHATBOT_SLACK_STATUS") or "auto").lower()
    if status not in STATUS_MODES:
        raise ConfigError(f"CHATBOT_SLACK_STATUS must be one of {', '.join(STATUS_MODES)}")
    return SlackSettings(
        bot_token=token,
        signing_secret=secret,
        app_token=app_token,
        api_url=read.text("SLACK_API_URL") or DEFAULT_API_URL,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=read.text("SLACK_REDIRECT_URI"),
        database_url=database_url,
        command=command.lower(),
        status=status,
    )


def discord_from_env(read: Env) -> DiscordSettings:
    """CHATBOT_DISCORD_SHARD_COUNT: `auto` (one process, Discord's advice) or the total;
    CHATBOT_DISCORD_SHARDS: this process's share of that total (`0-3`)."""
    sharded = read.flag("CHATBOT_DISCORD_SHARDED")
    count_text = read.text("CHATBOT_DISCORD_SHARD_COUNT")
    count: int | None = None
    if count_text is not None and count_text.lower() != "auto":
        count = read.count("CHATBOT_DISCORD_SHARD_COUNT", 0)
        if count < 1:
            raise ConfigError("CHATBOT_DISCORD_SHARD_COUNT must be at least 1, or auto")
    ids: tuple[int, ...] | None = None
    ids_text = read.text("CHATBOT_DISCORD_SHARDS")
    if ids_text is not None:
        try:
            ids = parse_shard_ids(ids_text)
        except ValueError as exc:
            raise ConfigError(f"CHATBOT_DISCORD_SHARDS: {exc}") from exc
        if count is None:
            raise ConfigError(
                "CHATBOT_DISCORD_SHARDS needs CHATBOT_DISCORD_SHARD_COUNT=<all shards of the "
                "bot>, so that every process splits the same total"
            )
        if ids[-1] >= count:
            raise ConfigError(
                f"CHATBOT_DISCORD_SHARDS: shard {ids[-1]} does not exist among "
                f"CHATBOT_DISCORD_SHARD_COUNT={count} (ids are 0 to {count - 1})"
            )
    try:
        guilds = parse_guild_ids(read.text("CHATBOT_DISCORD_GUILDS") or "")
    except ValueError as exc:
        raise ConfigError(f"CHATBOT_DISCORD_GUILDS: {exc}") from exc
    return DiscordSettings(
        token=read.text("DISCORD_TOKEN"),
        message_content=read.flag("CHATBOT_DISCORD_MESSAGE_CONTENT"),
        sharded=sharded or count_text is not None or ids is not None,
        shard_ids=ids,
        shard_count=count,
        guilds=guilds,
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
