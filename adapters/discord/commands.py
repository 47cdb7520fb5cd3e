"""The application commands, registered through discord.py's `app_commands` tree and synced on
start: globally, or to the servers in CHATBOT_DISCORD_GUILDS (instant, for testing).

`/ask <question> [persona]`, `/reset`, `/usage`, `/memory`, `/help`, and the message context
menu "Ask chatbot about this". Usable in servers and in DMs with the bot. `/reset` carries
Discord's default member permission Manage Messages, so only moderators see it until an admin
changes that (Server Settings → Integrations); the core still checks `reset_roles` /
`reset_users` itself, as for `@chatbot reset`.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord.interactions import Interactions

log = logging.getLogger(__name__)

CONTEXT_MENU = "Ask chatbot about this"
QUESTION_MAX = 4000  # characters Discord lets a string option carry here
# (name, description): answered by the core's command of the same name.
COMMANDS = (
    ("reset", "Forget this channel: earlier messages are no longer sent to the model"),
    ("usage", "Tokens used in this channel today and in total"),
    ("memory", "What the bot holds in memory for this channel"),
    ("help", "The tags (personas) and commands here"),
)
RESET_PERMISSIONS = discord.Permissions(manage_messages=True)
MISSING_ACCESS = 50001  # the bot was invited without the applications.commands scope


AnyCommand = app_commands.Command[Any, ..., Any] | app_commands.ContextMenu


def _where(command: AnyCommand) -> None:
    """Servers and DMs with the bot; installed to servers (not to users' accounts)."""
    command.allowed_contexts = app_commands.AppCommandContext(
        guild=True, dm_channel=True, private_channel=False
    )
    command.allowed_installs = app_commands.AppInstallationType(guild=True, user=False)


def _core_command(handler: Interactions, name: str, description: str) -> app_commands.Command:
    async def callback(interaction: discord.Interaction) -> None:
        await handler.command(interaction, name)

    command: app_commands.Command = app_commands.Command(
        name=name, description=description, callback=callback
    )
    if name == "reset":
        command.default_permissions = RESET_PERMISSIONS
    return command


def build_tree(client: discord.Client, handler: Interactions) -> app_commands.CommandTree:
    tree: app_commands.CommandTree = app_commands.CommandTree(client)

    @app_commands.command(name="ask", description="Ask the bot a question")
    @app_commands.describe(
        question="Your question",
        persona="Who answers: one of this channel's tags (default: the channel's)",
    )
    async def ask(
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX],
        persona: str | None = None,
    ) -> None:
        await handler.ask(interaction, question, persona)

    @ask.autocomplete("persona")
    async def persona_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return handler.persona_choices(interaction, current)

    async def ask_about(interaction: discord.Interaction, message: discord.Message) -> None:
        await handler.ask_about(interaction, message)

    menu = app_commands.ContextMenu(name=CONTEXT_MENU, callback=ask_about)
    commands: list[AnyCommand] = [ask, *(_core_command(handler, n, d) for n, d in COMMANDS), menu]
    for command in commands:
        _where(command)
        tree.add_command(command)
    return tree


async def sync(tree: app_commands.CommandTree, guilds: tuple[int, ...]) -> None:
    """Register the commands with Discord: in each of `guilds` (instant), else globally. A
    failure is logged with what to do; the bot keeps answering mentions either way."""
    targets: list[discord.Object | None] = [discord.Object(g) for g in guilds] or [None]
    for guild in targets:
        where = f"server {guild.id}" if guild is not None else "globally"
        try:
            if guild is not None:
                tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
        except discord.Forbidden as exc:
            if exc.code == MISSING_ACCESS:
                log.error(
                    "discord: cannot register the slash commands in %s: invite the bot with "
                    "the applications.commands scope (the invite URL is in this log)",
                    where,
                )
            else:
                log.error("discord: registering the slash commands in %s refused: %s", where, exc)
        except discord.HTTPException as exc:
            log.error("discord: registering the slash commands in %s failed: %s", where, exc)
        except Exception:
            # Whatever it is, the gateway client must still start: mentions keep working.
            log.exception("discord: registering the slash commands in %s failed", where)
        else:
            log.info("discord: %d application commands registered %s", len(synced), where)
