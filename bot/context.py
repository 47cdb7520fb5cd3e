"""Context assembly: the persona's system prompt plus the channel's most recent turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.addressing import TagParser
from bot.settings import ModelSettings
from bot.tools.base import ToolRound, ToolSpec
from bot.types import ChannelKey, Role, StoredMessage


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image sent with a turn: bytes already checked and downscaled (bot/attachments.py)."""

    media_type: str  # image/png, image/jpeg or image/webp
    data: bytes
    name: str


@dataclass(frozen=True, slots=True)
class ChatTurn:
    role: Role
    content: str
    # The turn's images, which each provider renders in its own wire format (bot/pictures.py).
    images: tuple[ImagePart, ...] = ()
    # The stored message this turn renders, so its files can be added; not part of equality.
    message_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One call to a provider, in provider-neutral form."""

    channel: ChannelKey
    system: str
    turns: list[ChatTurn]
    settings: ModelSettings
    # Responses-API chaining (issue 3): the id to continue from and the turns since then.
    previous_response_id: str | None = None
    turns_since_previous: list[ChatTurn] = field(default_factory=list)
    # Tools the model may ask for, and the rounds of this turn that already asked (bot/tools).
    tools: list[ToolSpec] = field(default_factory=list)
    rounds: list[ToolRound] = field(default_factory=list)
    web_search: bool = False  # the provider's own hosted web search, where it has one
    # "none": the tools stay declared (the rounds refer to them) but the model must answer now.
    tool_choice: str = "auto"


def render_turn(message: StoredMessage, persona: str, tags: TagParser | None = None) -> ChatTurn:
    """The persona's own answers are assistant turns; everyone else speaks as `name: text`.

    Other personas' answers are shown as named participants, not as this persona's words. A
    question put to this persona reaches the model without its tag, as the course does
    (`alice: 안녕??`, not `alice: @chatbot 안녕??`); memory keeps what was typed, and questions
    to other tags keep theirs, so the model knows whom they asked.
    """
    if message.role == "assistant" and (message.tag or "") == persona:
        return ChatTurn("assistant", message.text, message_id=message.id)
    text = message.text
    if message.tag == persona and tags is not None:
        found = tags.parse(text)
        if found is not None and found.text:
            text = found.text
    return ChatTurn("user", f"{message.author_name}: {text}", message_id=message.id)


@dataclass(frozen=True, slots=True)
class Window:
    """The recent window: the messages picked, their turns, and what they cost."""

    messages: list[StoredMessage]
    turns: list[ChatTurn]
    tokens: int


def recent_window(
    messages: Sequence[StoredMessage],
    *,
    persona: str,
    max_turns: int,
    max_tokens: int,
    count: Callable[[str], int],
    tags: TagParser | None = None,
) -> Window:
    """Newest kept first, within the turn limit and token budget, starting on a user turn.

    `messages` is oldest first and ends with the message being answered, which is always kept.
    """
    picked: list[tuple[StoredMessage, ChatTurn, int]] = []
    used = 0
    for message in reversed(messages):
        turn = render_turn(message, persona, tags)
        cost = count(turn.content)
        if picked and (len(picked) >= max_turns or used + cost > max_tokens):
            break
        picked.append((message, turn, cost))
        used += cost
    picked.reverse()
    while picked and picked[0][1].role != "user":
        used -= picked.pop(0)[2]
    return Window([m for m, _, _ in picked], [t for _, t, _ in picked], used)


def select_history(
    messages: Sequence[StoredMessage],
    *,
    persona: str,
    max_turns: int,
    max_tokens: int,
    count: Callable[[str], int],
    tags: TagParser | None = None,
) -> list[ChatTurn]:
    """The recent window's turns (see `recent_window`)."""
    return recent_window(
        messages,
        persona=persona,
        max_turns=max_turns,
        max_tokens=max_tokens,
        count=count,
        tags=tags,
    ).turns
