"""The addressing table: which tag a message selects, and what text is left."""

from __future__ import annotations

import pytest

from bot.addressing import Addressed, TagParser
from bot.channel_rules import ChannelOverride, ChatRules
from bot.personas import Persona
from bot.routing import route
from bot.settings import ModelSettings
from bot.types import Author, IncomingMessage

TAGS = ["chatbot", "chatbot-pro", "summary", "translate", "dragon"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@chatbot hello", ("chatbot", "hello")),
        ("@chatbot", ("chatbot", "")),
        ("  @chatbot   spaced  ", ("chatbot", "spaced")),
        ("@ChatBot Hello", ("chatbot", "Hello")),  # case-insensitive tag, text kept as written
        ("@SUMMARY 50", ("summary", "50")),
        ("@chatbot, hello", ("chatbot", "hello")),
        ("@chatbot: hello", ("chatbot", "hello")),
        ("@chatbot:hello", ("chatbot", "hello")),
        ("@chatbot,", ("chatbot", "")),
        ("@chatbot\nsecond line", ("chatbot", "second line")),
        ("@chatbot-pro go", ("chatbot-pro", "go")),  # the longest match wins
        ("@chatbot -pro", ("chatbot", "-pro")),
        ("@translate en 안녕하세요", ("translate", "en 안녕하세요")),
        ("@chatbotx hello", None),  # not @chatbot
        ("@chatbot.hello", None),
        ("@chatbot-prox", None),
        ("@unknown hello", None),  # unknown @words are plain chat
        ("hello @chatbot", None),  # the tag must start the message
        ("email me at a@chatbot", None),
        ("", None),
        ("@", None),
    ],
)
def test_tag_parsing_table(text: str, expected: tuple[str, str] | None) -> None:
    found = TagParser(TAGS).parse(text)
    assert found == (Addressed(*expected) if expected else None)


def persona(name: str) -> Persona:
    return Persona(name, "prompt", ModelSettings(), 10, 1000)


PERSONAS = {n: persona(n) for n in ("chatbot", "summary", "dragon")}
RULES = ChatRules(channels={"web:stories": ChannelOverride(persona="dragon")})


def msg(
    text: str, *, platform: str = "web", channel: str = "web:lobby", **kw: object
) -> IncomingMessage:
    bot = bool(kw.pop("bot", False))
    return IncomingMessage(
        platform=platform,
        channel=channel,
        message_id=None,
        author=Author("u1", "soyeon", is_bot=bot),
        text=text,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (msg("hello"), None),
        (msg("hello", is_direct=True), ("chatbot", "hello")),
        (msg("hello", reply_to_bot=True), ("chatbot", "hello")),
        (msg("@chatbot hi", channel="web:stories"), ("dragon", "hi")),  # channel default
        (msg("hi", channel="web:stories", is_direct=True), ("dragon", "hi")),
        (msg("@chatbot help", channel="web:stories"), ("chatbot", "help")),  # commands stay
        (msg("@summary 5", channel="web:stories"), ("summary", "5")),  # explicit tags stay
        # Discord/Slack: the bot's mention arrives as @chatbot; a tag name after it selects it.
        (msg("@chatbot summary 20", platform="discord", channel="discord:1:2"), ("summary", "20")),
        (
            msg("@chatbot Dragon, a tale", platform="slack", channel="slack:T:C"),
            ("dragon", "a tale"),
        ),
        (
            msg("@chatbot summary of the war", channel="web:lobby"),
            ("chatbot", "summary of the war"),
        ),
        (msg("@chatbot hi", bot=True), ("chatbot", "hi")),  # another bot, by tag only
        (msg("hi", bot=True, is_direct=True), None),  # never without a tag: no bot loops
        # An explicit question (a slash command): the tag it names, the question as typed.
        (msg("what is up?", platform="discord", asks="chatbot"), ("chatbot", "what is up?")),
        (msg("tell a tale", platform="discord", asks="dragon"), ("dragon", "tell a tale")),
        (
            msg("a tale", platform="discord", channel="web:stories", asks="chatbot"),
            ("dragon", "a tale"),
        ),
        (msg("@summary 20", platform="discord", asks="chatbot"), ("summary", "20")),
        # never a first-word persona, never a command, an unknown tag falls back to the bot
        (
            msg("summary of the war?", platform="discord", asks="chatbot"),
            ("chatbot", "summary of the war?"),
        ),
        (msg("help", platform="discord", asks="chatbot"), ("chatbot", "help")),
        (msg("hi", platform="discord", asks="nobody"), ("chatbot", "hi")),
        # An explicit question (a slash command's `ask`): to the tag it names, text as typed.
        (msg("what is rust?", asks="chatbot"), ("chatbot", "what is rust?")),
        (msg("the last hour", asks="summary"), ("summary", "the last hour")),
        (msg("hi", asks="nosuchtag"), ("chatbot", "hi")),
        (msg("a tale", asks="chatbot", channel="web:stories"), ("dragon", "a tale")),
        (msg("@summary 5", asks="chatbot"), ("summary", "5")),  # a tag in the text still wins
    ],
)
def test_routing_table(message: IncomingMessage, expected: tuple[str, str] | None) -> None:
    found = route(
        TagParser(PERSONAS).parse(message.text),
        message,
        name="chatbot",
        personas=PERSONAS,
        rules=RULES,
    )
    assert found == (Addressed(*expected) if expected else None)
