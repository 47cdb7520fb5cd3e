"""What `chatbot check` says, as lines: printed by the CLI and shown by the console (GET /admin).

Never a secret: secrets are reported as set or missing, and every URL goes through redact_url
(passwords and tokens hide in URLs too).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.config import SECRET_NAMES, AppSettings
from chatbot.providers import PROVIDERS, missing_for, providers_in_use
from chatbot.redact import redact_url


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
    if settings.slack is not None:
        ways = [
            name
            for name, on in (
                ("HTTP /slack/events", settings.slack.signing_secret),
                ("Socket Mode", settings.slack.app_token),
            )
            if on
        ]
        lines.append(
            f"slack:     on ({', '.join(ways)}), API {redact_url(settings.slack.base_url)}"
        )
    elif "SLACK_BOT_TOKEN" in settings.secrets:
        lines.append(
            "slack:     off: SLACK_BOT_TOKEN is set, but neither SLACK_SIGNING_SECRET (HTTP) "
            "nor SLACK_APP_TOKEN (Socket Mode)"
        )
    else:
        lines.append("slack:     off")
    discord = settings.discord
    if discord.token:
        content = "on" if discord.message_content else "off"
        lines.append(f"discord:   on (message content intent {content})")
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


def check_lines(settings: AppSettings) -> list[str]:
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
    if settings.redis_url:
        lines.append(f"redis:     {redact_url(settings.redis_url)}")
    for name in SECRET_NAMES:
        state = "set" if name in settings.secrets else "missing"
        lines.append(f"{name:22} {state}")
    lines += adapter_lines(settings)
    lines.append(console_line(settings))
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
