"""Which persona answers: the tag, or the channel's default for DMs, replies and `@chatbot`."""

from __future__ import annotations

from collections.abc import Mapping

from bot.addressing import Addressed
from bot.channel_rules import ChatRules
from bot.commands import command_of
from bot.personas import Persona
from bot.types import IncomingMessage


def route(
    found: Addressed | None,
    message: IncomingMessage,
    *,
    name: str,
    personas: Mapping[str, Persona],
    rules: ChatRules,
) -> Addressed | None:
    """`found` is the parsed tag (None when the message has none).

    - a question the platform says was asked of a tag (`asks`: a slash command's `ask`)
      without a tag at the start goes to that tag (or `name`, if there is no such tag);
    - a mention of the bot anywhere, or a person's DM or reply to the bot, without a tag at
      the start goes to `name` with the whole text (other bots only by mention or tag: no bot
      loops), then as below;
    - `@chatbot <command>` stays with `name` (bot/commands.py);
    - on Discord and Slack, where a mention of the bot arrives as `@chatbot`, a tag name as the
      first word selects that tag (`@Bot summary 20`);
    - otherwise `@chatbot` is answered by the channel's default persona, when one is set.
    """
    if found is None and message.asks is not None:
        asked = message.asks.lower()
        found = Addressed(tag=asked if asked in personas else name, text=message.text.strip())
    if found is None:
        person_asks = not message.author.is_bot and (message.is_direct or message.reply_to_bot)
        if not (message.mentions_bot or person_asks):
            return None
        found = Addressed(tag=name, text=message.text.strip())
    if found.tag != name or command_of(found.text):
        return found
    if message.platform != "web":
        first, _, rest = found.text.partition(" ")
        word = first.rstrip(",:").lower()
        if word in personas and word != name:
            return Addressed(tag=word, text=rest.strip())
    default = rules.for_channel(message.channel).persona
    if default and default != name and default in personas:
        return Addressed(tag=default, text=found.text)
    return found
