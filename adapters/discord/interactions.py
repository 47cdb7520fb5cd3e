"""Application commands and the message context menu, as the core's calls.

Every handler acknowledges the interaction first (deferred: Discord's "chatbot is thinking…"),
well inside Discord's 3 seconds and before the core is called, then hands the core what the
interaction says: `/ask` and "Ask chatbot about this" are questions (`IncomingMessage.asks`)
answered through `ChatService.receive`; `/reset`, `/usage`, `/memory`, `/help` are commands by
name through `ChatService.command`, with the same permissions as `@chatbot reset`. Interactions
carry their own text, so none of this needs the Message Content intent.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from adapters.discord.inbound import PLATFORM, key_for, member_roles, normalise_text
from adapters.discord.target import InteractionTarget
from bot.service import ChatService
from bot.types import Author, IncomingMessage

log = logging.getLogger(__name__)

ALREADY_ACKNOWLEDGED = 40060  # a replayed INTERACTION_CREATE, or another process took it
UNKNOWN_INTERACTION = 10062  # acknowledged too late (after 3 s) or expired
MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
NO_CHANNEL = "I can't tell which channel this is; try again in a channel where I am."
UNREADABLE = "That message has no text I can read."


def interaction_key(interaction: discord.Interaction) -> str | None:
    """The conversation the interaction was used in, as `inbound.channel_key` names it."""
    if interaction.channel is None:
        return None
    return key_for(interaction.guild_id, interaction.channel)


def quoted(message: discord.Message, bot_id: int, tag: str) -> str:
    """What "Ask chatbot about this" asks: the chosen message, quoted with its author."""
    text = normalise_text(message, bot_id, tag).text
    if not text.strip():
        return ""
    lines = f"{message.author.display_name}: {text}".splitlines()
    return "\n".join(f"> {line}" for line in lines)


class Interactions:
    def __init__(self, service: ChatService, tag: str):
        self.service = service
        self.tag = tag

    def _incoming(
        self, interaction: discord.Interaction, channel: str, text: str, *, asks: str | None
    ) -> IncomingMessage:
        user = interaction.user
        return IncomingMessage(
            platform=PLATFORM,
            channel=channel,
            # The interaction's id: a replayed INTERACTION_CREATE is the same question, and the
            # database's unique (platform, message id) answers it once across processes.
            message_id=str(interaction.id) if asks is not None else None,
            author=Author(id=f"{PLATFORM}:{user.id}", name=user.display_name, is_bot=user.bot),
            text=text,
            is_direct=interaction.guild_id is None,
            asks=asks,
            time=interaction.created_at,
            roles=member_roles(user),
        )

    async def _defer(self, interaction: discord.Interaction, *, ephemeral: bool) -> bool:
        """Acknowledge now; False when Discord says someone already did (or it is too late)."""
        try:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except discord.InteractionResponded:
            return False
        except discord.HTTPException as exc:
            if exc.code in (ALREADY_ACKNOWLEDGED, UNKNOWN_INTERACTION):
                log.info("discord: interaction %s not taken (%s)", interaction.id, exc.text)
            else:
                log.warning("discord: deferring interaction %s failed: %s", interaction.id, exc)
            return False
        return True

    async def _say(self, interaction: discord.Interaction, text: str) -> None:
        """A short line as the (deferred) response, when the core has nothing to answer."""
        try:
            await interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.warning("discord: answering interaction %s failed: %s", interaction.id, exc)

    async def _question(
        self, interaction: discord.Interaction, text: str, persona: str | None
    ) -> None:
        channel = interaction_key(interaction)
        if channel is None:
            await self._say(interaction, NO_CHANNEL)
            return
        message = self._incoming(interaction, channel, text, asks=persona or self.tag)
        target = InteractionTarget(interaction, self.tag, ephemeral=False)
        received = await self.service.receive(message, target)
        if received.answer is None and received.refused is None and not received.duplicate:
            await self._say(interaction, f"Ask me something: `/ask question: ...` ({self.tag}).")

    # -- the commands ----------------------------------------------------------------------

    async def ask(
        self, interaction: discord.Interaction, question: str, persona: str | None
    ) -> None:
        """`/ask <question> [persona]`."""
        if persona is not None:
            # Typed past the autocomplete: say so at once (no core call, no defer needed).
            channel = interaction_key(interaction) or PLATFORM
            names = [p.name for p in self.service.tags_for(channel)]
            wanted = persona.strip().lstrip("@").lower()
            if wanted not in names:
                await interaction.response.send_message(
                    f"There is no persona `{persona}` here. Personas: {', '.join(names)}.",
                    ephemeral=True,
                )
                return
            persona = wanted
        if await self._defer(interaction, ephemeral=False):
            await self._question(interaction, question, persona)

    async def ask_about(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The message context menu "Ask chatbot about this"."""
        if not await self._defer(interaction, ephemeral=False):
            return
        me = interaction.client.user
        text = quoted(message, me.id if me is not None else 0, self.tag)
        if not text:
            await self._say(interaction, UNREADABLE)
            return
        await self._question(interaction, text, None)

    async def command(self, interaction: discord.Interaction, name: str) -> None:
        """`/reset`, `/usage`, `/memory`, `/help`: the core's command of that name, privately."""
        if not await self._defer(interaction, ephemeral=True):
            return
        channel = interaction_key(interaction)
        if channel is None:
            await self._say(interaction, NO_CHANNEL)
            return
        message = self._incoming(interaction, channel, f"/{name}", asks=None)
        await self.service.command(
            name, message, InteractionTarget(interaction, self.tag, ephemeral=True)
        )

    def persona_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete for `/ask persona`: the tags this channel offers, its default first."""
        channel = interaction_key(interaction) or PLATFORM
        typed = current.strip().lstrip("@").lower()
        choices = []
        for persona in self.service.tags_for(channel):
            if typed and typed not in persona.name:
                continue
            label = (
                f"{persona.name}: {persona.description}" if persona.description else persona.name
            )
            choices.append(app_commands.Choice(name=label[:100], value=persona.name))
        return choices[:MAX_CHOICES]
