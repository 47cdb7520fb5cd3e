"""What `chatbot check` says, as lines: printed by the CLI and shown by the console (GET /admin).

Never a secret: secrets are reported as set or missing, and every URL goes through redact_url
(passwords and tokens hide in URLs too).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.attachments import megabytes
from chatbot.config import SECRET_NAMES, AppSettings
from chatbot.providers import PROVIDERS, missing_for, providers_in_use
from chatbot.redact import redact_url
from memory.files import default_files_dir


@dataclass(frozen=True, slots=True)
class ProviderState:
    name: str
    chosen: bool  # CHATBOT_PROVIDER
    missing: str | None  # None: ready


def provider_states(settings: AppSettings) -> list[ProviderState]:
    chosen = settings.bot.model.provider
    return [ProviderState(n, n == chosen, missing_for(settings, n)) for n in PROVIDERS]


def adapter_lines(settings: AppSettings) -> list[str]:
    web = settings.web
    lines = [
        "web:       "
        + (
            ("on (join code set)" if web.join_token else "on (no join code)")
            if web.enabled
            else "off"
        )
    ]
    slack = settings.slack
    if slack is not None:
        ways = [
            name
            for name, on in (
                ("HTTP /slack/events", slack.signing_secret),
                ("Socket Mode", slack.app_token),
            )
            if on
        ]
        mode = (
            "installed through OAuth: GET /slack/install, installations in the database"
            if slack.distributed
            else "one workspace (SLACK_BOT_TOKEN)"
        )
        lines.append(f"slack:     on ({', '.join(ways)}), API {redact_url(slack.base_url)}")
        lines.append(f"           {mode}; slash command {slack.command}; status {slack.status}")
    elif "SLACK_BOT_TOKEN" in settings.secrets or "SLACK_CLIENT_SECRET" in settings.secrets:
        way = "SLACK_BOT_TOKEN" if "SLACK_BOT_TOKEN" in settings.secrets else "SLACK_CLIENT_ID"
        lines.append(
            f"slack:     off: {way} is set, but neither SLACK_SIGNING_SECRET (HTTP) "
            "nor SLACK_APP_TOKEN (Socket Mode)"
        )
    else:
        lines.append("slack:     off")
    discord = settings.discord
    if discord.token:
        if discord.shard_ids is not None:
            shards = f"shards {','.join(map(str, discord.shard_ids))} of {discord.shard_count}"
        elif discord.sharded:
            shards = f"all {discord.shard_count or 'auto'} shards"
        else:
            shards = "one connection"
        where = ", ".join(map(str, discord.guilds)) if discord.guilds else "globally"
        commands = (
            f"commands registered {where}" if discord.syncs_commands else "commands: not here"
        )
        content = "on" if discord.message_content else "off"
        lines.append(f"discord:   on ({shards}; {commands}; Message Content intent {content})")
    else:
        lines.append("discord:   off")
    return lines


def console_line(settings: AppSettings) -> str:
    if settings.admin_token:
        return "console:   on (GET /admin, CHATBOT_ADMIN_TOKEN set)"
    return "console:   off (set CHATBOT_ADMIN_TOKEN to turn on GET /admin)"


def unpriced_models(settings: AppSettings) -> list[str]:
    """Models the service answers with that the price table does not list."""
    prices = settings.bot.spending.prices
    models = [settings.bot.model.model]
    models += [str(t.model["model"]) for t in settings.tags.tags.values() if "model" in t.model]
    return [m for m in dict.fromkeys(models) if prices.price_of(m) is None]


def spending_line(settings: AppSettings) -> str:
    spending = settings.bot.spending
    tag_limits = sum(len(v) for v in spending.tag_limits.values())
    prices = spending.prices
    line = (
        f"limits:    {len(spending.limits)} ([[limits]]), {tag_limits} on tags; "
        f"prices of {len(prices.models)} models as of {prices.as_of or '(no date)'}"
    )
    unpriced = unpriced_models(settings)
    if unpriced:
        line += f"; no price for {', '.join(unpriced)} (its cost is not estimated)"
    return line


def files_line(settings: AppSettings) -> str:
    files = settings.files_dir or str(default_files_dir(settings.database_url))
    limits = settings.bot.files
    return (
        f"files:     {files} (up to {settings.files_inline_max:,} bytes in the database); "
        f"at most {megabytes(limits.max_bytes)}, {limits.max_files} a message, "
        f"{limits.images_per_turn} images a turn; hosts: {', '.join(settings.file_hosts)}"
    )


def check_lines(settings: AppSettings, *, tools: list[str] | None = None) -> list[str]:
    """`tools`: the lines about tools and MCP servers (chatbot/tool_report.py), where known."""
    model = settings.bot.model
    lines = [f"database:  {redact_url(settings.database_url)}"]
    lines.append(f"provider:  {model.provider}  model: {model.model}")
    if settings.openai_base_url:
        lines.append(f"base url:  {redact_url(settings.openai_base_url)}")
    tags = settings.tags
    lines.append(f"config:    {tags.source}")
    lines.append(f"tags:      {', '.join('@' + t for t in tags.tags)}")
    lines.append(f"moderation: {'on' if tags.moderation else 'off'}")
    lines.append(spending_line(settings))
    lines.append(files_line(settings))
    if settings.redis_url:
        lines.append(f"redis:     {redact_url(settings.redis_url)}")
    for name in SECRET_NAMES:
        state = "set" if name in settings.secrets else "missing"
        lines.append(f"{name:22} {state}")
    lines += adapter_lines(settings)
    lines.append(console_line(settings))
    lines += tools or []
    if settings.gemini_base_url:
        lines.append(f"gemini url: {redact_url(settings.gemini_base_url)}")
    lines.append("")
    in_use = providers_in_use(settings)
    for p in provider_states(settings):
        mark = "*" if p.chosen else " "
        state = "ready" if p.missing is None else "missing: " + p.missing
        used = "" if p.chosen or p.name not in in_use else " (a tag uses it)"
        lines.append(f"{mark} {p.name:18} {state}{used}")
    chosen = missing_for(settings, model.provider)
    if chosen:
        lines.append(
            f"\nMissing for {model.provider}: {chosen}. "
            "The web chat runs, but @chatbot will answer with setup instructions."
        )
    return lines
