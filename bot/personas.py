"""A persona is what a tag answers as: its name, system prompt and model settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import BotSettings, ModelSettings


@dataclass(frozen=True, slots=True)
class Persona:
    name: str  # the tag, lower case, without "@"
    system_prompt: str
    model: ModelSettings
    max_history_turns: int
    max_history_tokens: int
    description: str = ""
    needs_text: bool = True  # an empty `@tag` gets a usage hint instead of a model call
    usage_hint: str = ""
    # What the core does before the model call (bot/tag_behaviour.py): "chat", "summary"
    # (`@summary 50` reads the last 50 messages) or "translate" (a target language code).
    behaviour: str = "chat"
    # Long memory's scope for this tag ("shared" or "member"); None: the channel's, else shared.
    scope: str | None = None
    # How it appears where a platform can post under another name (Slack, with the
    # chat:write.customize scope): a display name and an icon (`:dragon:`, or an image URL).
    # Empty: the tag's own name, and the app's icon.
    username: str = ""
    icon_emoji: str = ""
    icon_url: str = ""
    # Tools it may call (bot/tools): built-in names and `mcp:<server>` (or `mcp:<server>.<tool>`).
    # None: the default, the built-ins for the bot's own tag and none for other tags.
    tools: tuple[str, ...] | None = None
    # Who may make it use them on Discord and Slack (the shape of reset_roles / reset_users):
    # empty both, anyone.
    tool_roles: tuple[str, ...] = ()
    tool_users: tuple[str, ...] = ()
    web_search: bool = False  # the provider's own hosted web search (Responses, Gemini)


def default_persona(settings: BotSettings) -> Persona:
    return Persona(
        name=settings.name,
        system_prompt=settings.system_prompt,
        model=settings.model,
        max_history_turns=settings.max_history_turns,
        max_history_tokens=settings.max_history_tokens,
        description="the general assistant",
        usage_hint=f"Say something after @{settings.name}, for example `@{settings.name} 안녕?`",
    )
