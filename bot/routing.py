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
    - otherwise `@chatbot` is answered by the channel's default persona, when one is set;
    - a message the platform says asks the bot (`asks`: a slash command) goes to the tag it
      names, see `_explicit`.
    """
    if message.asks is not None:
        return _explicit(found, message, name=name, personas=personas, rules=rules)
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


def _explicit(
    found: Addressed | None,
    message: IncomingMessage,
    *,
    name: str,
    personas: Mapping[str, Persona],
    rules: ChatRules,
) -> Addressed:
    """An explicit question (`/ask <question> [persona]`): the tag it names answers the question
    as typed. Naming only the bot, a tag the question starts with answers (`@summary 20`), else
    the channel's default persona. Never a command, never a first-word persona: "summary of
    the meeting?" is a question. A tag that does not exist falls back to the bot."""
    assert message.asks is not None
    tag = message.asks.lower()
    text = message.text.strip()
    if tag not in personas:
        tag = name
    if tag == name and found is not None:
        tag, text = found.tag, found.text
    if tag == name:
        default = rules.for_channel(message.channel).persona
        if default and default != name and default in personas:
            tag = default
    return Addressed(tag=tag, text=text)
