"""The per-channel Responses API chain: what to send with `previous_response_id`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.addressing import TagParser
from bot.context import ChatTurn, render_turn
from bot.memory import Memory
from bot.personas import Persona
from bot.providers.base import Provider
from bot.types import ChannelState, StoredMessage


@dataclass(frozen=True, slots=True)
class Chain:
    previous_response_id: str
    turns_since: list[ChatTurn]


def chains(provider: Provider) -> bool:
    """Providers that continue server-side conversations declare `chains = True`."""
    return bool(getattr(provider, "chains", False))


async def load_chain(
    memory: Memory,
    state: ChannelState,
    asked: StoredMessage,
    persona: Persona,
    tags: TagParser | None = None,
) -> Chain | None:
    """The chain to continue, with every turn since its answer (plain chat included).

    None means: no usable chain, send the ordinary history and start a new one.
    """
    if not state.response_id or state.response_message_id is None:
        return None
    if state.response_message_id <= state.reset_after_id:
        return None  # a reset forgot what the chain remembers
    limit = persona.max_history_turns
    since = await memory.recent(
        asked.channel, limit + 1, after_id=state.response_message_id, up_to_id=asked.id
    )
    if len(since) > limit:
        return None  # more was said than one window holds: start over from the history
    # `response_message_id` is the last message the chain's request carried (the question),
    # so plain chat said while that answer was being written is sent now. The chain's own
    # answers are already on the server: leave them out.
    since = [
        m for m in since if not m.flagged and m.command is None and not _own_answer(m, persona)
    ]
    if not since or since[-1].id != asked.id:
        since.append(asked)
    return Chain(state.response_id, [render_turn(m, persona.name, tags) for m in since])


def _own_answer(message: StoredMessage, persona: Persona) -> bool:
    return message.role == "assistant" and message.tag == persona.name


def chain_eligible(provider: Provider, persona: Persona) -> bool:
    """Only plain chat personas continue the channel's chain: @summary or @translate build
    their own context, and their answers must not become the chain's next link."""
    return chains(provider) and persona.behaviour == "chat"
