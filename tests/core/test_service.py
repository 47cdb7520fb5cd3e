"""The core's turn with fakes of its ports (testing/fakes.py): no sockets, no database, seconds.

The real parts behind the same ports are tested on the real wire in tests/adapters,
tests/providers and tests/memory; here is the policy the core alone owns.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.channel_rules import ChannelOverride, ChatRules, CommandPolicy
from bot.delivery import Delivery
from bot.errors import ErrorKind, ProviderError
from bot.personas import default_persona
from bot.service import ChatService
from bot.settings import BotSettings, MemorySettings
from bot.types import Author, IncomingMessage, NewMessage, Summary
from testing.fakes import (
    EditingTarget,
    FakeProvider,
    InMemoryStore,
    NoticeTarget,
    RecordingTarget,
    Say,
    StreamingTarget,
)

ALICE = Author(id="u:alice", name="alice")
OTHER_BOT = Author(id="u:otherbot", name="otherbot", is_bot=True)
ME = Author(id="u:me", name="chatbot", is_bot=True, is_self=True)


def make_service(
    *script: Say | ProviderError | BaseException,
    settings: BotSettings | None = None,
    rules: ChatRules | None = None,
) -> tuple[ChatService, InMemoryStore, FakeProvider]:
    settings = settings or BotSettings()
    store = InMemoryStore()
    provider = FakeProvider(*script)
    service = ChatService(
        store,
        lambda name: provider,
        settings,
        {settings.name: default_persona(settings)},
        edit_interval=0.0,
        rules=rules,
    )
    return service, store, provider


def said(
    text: str,
    author: Author = ALICE,
    channel: str = "web:room",
    *,
    message_id: str | None = None,
    mentions_bot: bool = False,
    reply_to_bot: bool = False,
    is_direct: bool = False,
    in_thread: bool = False,
    source: str | None = None,
    asks: str | None = None,
    roles: tuple[str, ...] = (),
) -> IncomingMessage:
    return IncomingMessage(
        platform="test",
        channel=channel,
        message_id=message_id,
        author=author,
        text=text,
        mentions_bot=mentions_bot,
        reply_to_bot=reply_to_bot,
        is_direct=is_direct,
        in_thread=in_thread,
        source=source,
        asks=asks,
        roles=roles,
    )


async def turn(service: ChatService, message: IncomingMessage, target: RecordingTarget) -> None:
    await service.receive(message, target)
    await service.idle()


async def test_every_message_is_stored_and_only_addressed_ones_are_answered() -> None:
    service, store, provider = make_service(Say("hello alice"))
    target = RecordingTarget()
    await turn(service, said("plain chat"), target)
    assert target.sent == [] and provider.requests == []
    await turn(service, said("@chatbot 안녕??"), target)
    assert target.texts() == ["hello alice"]
    assert [(m.role, m.text) for m in store.messages] == [
        ("user", "plain chat"),
        ("user", "@chatbot 안녕??"),
        ("assistant", "hello alice"),
    ]
    # What the model heard: plain chat included, the question without its tag.
    assert [t.content for t in provider.requests[0].turns] == ["alice: plain chat", "alice: 안녕??"]


async def test_mentions_dms_and_replies_address_the_bot_and_other_bots_only_by_mention() -> None:
    service, _, provider = make_service()
    target = RecordingTarget()
    for message in (
        said("thanks @chatbot!", mentions_bot=True),
        said("in a dm", is_direct=True),
        said("a reply", reply_to_bot=True),
        said("a bot's dm", author=OTHER_BOT, is_direct=True),
    ):
        await turn(service, message, target)
    assert len(provider.requests) == 3
    assert provider.requests[0].turns[-1].content == "alice: thanks @chatbot!"  # as written


async def test_the_bot_never_answers_itself_and_a_duplicate_once() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    await turn(service, said("@chatbot me", author=ME), target)
    twice = said("@chatbot once", message_id="m1")  # a platform's retry: the same id
    received = await service.receive(twice, target)
    again = await service.receive(twice, target)
    await service.idle()
    assert received.stored is not None and again.duplicate
    assert len(provider.requests) == 1 and len(store.messages) == 2


async def test_another_bot_is_answered_three_times_in_a_row_until_a_person_speaks() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    for i in range(5):
        await turn(
            service, said(f"@chatbot round {i}", author=OTHER_BOT, mentions_bot=True), target
        )
    assert len(provider.requests) == 3
    assert sum(1 for m in store.messages if m.author_is_bot) == 5  # all remembered
    # A person's post the platform would not let us read still ends the run.
    later = datetime.now(UTC) + timedelta(seconds=1)
    await turn(service, IncomingMessage("test", "web:room", None, ALICE, "", time=later), target)
    await turn(
        service,
        IncomingMessage(
            "test",
            "web:room",
            None,
            OTHER_BOT,
            "@chatbot round 5",
            mentions_bot=True,
            time=later + timedelta(seconds=1),
        ),
        target,
    )
    assert len(provider.requests) == 4


async def test_a_message_memory_cannot_take_is_refused_to_its_sender_only() -> None:
    service, store, provider = make_service()
    store.down = True
    private = NoticeTarget()
    received = await service.receive(said("plain chat while down"), private)
    assert received.refused is ErrorKind.STORAGE
    assert [(s.kind, s.meta.error) for s in private.sent] == [("notice", ErrorKind.STORAGE)]
    # A platform without private notices hears about it only when the bot was asked.
    public = RecordingTarget()
    await service.receive(said("plain chat"), public)
    assert public.sent == []
    await service.receive(said("@chatbot are you there?"), public)
    assert public.sent[0].meta.error is ErrorKind.STORAGE and provider.requests == []


async def test_a_bug_anywhere_in_a_turn_ends_in_the_server_error_line() -> None:
    service, store, _ = make_service(KeyError("a bug"))
    target = RecordingTarget()
    await turn(service, said("@chatbot hi"), target)
    assert target.sent[-1].meta.error is ErrorKind.SERVER_FAILURE
    assert [m.text for m in store.messages] == ["@chatbot hi"]


@pytest.mark.parametrize("kind", [ErrorKind.RATE_LIMITED, ErrorKind.AUTH, ErrorKind.BAD_RESPONSE])
async def test_a_provider_failure_is_its_kinds_line(kind: ErrorKind) -> None:
    service, _, provider = make_service(*[ProviderError(kind, "scripted")] * 3)
    service.sleep = lambda seconds: asyncio.sleep(0)
    target = RecordingTarget()
    await turn(service, said("@chatbot hi"), target)
    assert target.sent[-1].meta.error is kind


async def test_surrogate_halves_from_people_and_the_model_are_repaired() -> None:
    service, store, _ = make_service(Say("\ud83d\ude00 ok", chunks=["\ud83d", "\ude00 ok"]))
    target = StreamingTarget()
    await turn(service, said("@chatbot boom \ud800"), target)
    assert store.messages[0].text == "@chatbot boom \ufffd"
    assert "".join(s.text for s in target.sent if s.kind == "stream") == "\U0001f600 ok"
    assert store.messages[-1].text == "\U0001f600 ok"


async def test_a_stream_the_platform_ends_continues_by_editing_its_message() -> None:
    pieces = ["one ", "two ", "three ", "four"]
    service, _, _ = make_service(Say("".join(pieces), chunks=pieces))
    target = StreamingTarget(refuse_after=2)
    await turn(service, said("@chatbot count"), target)
    kinds = [s.kind for s in target.sent]
    assert kinds[:2] == ["stream", "stream"] and "close" not in kinds
    assert target.sent[-1].kind == "edit" and target.sent[-1].text == "one two three four"


async def test_a_long_answer_is_edited_in_place_then_split_under_the_limit() -> None:
    text = ("word " * 100 + "\n\n") * 10  # ~5,000 characters
    service, _, _ = make_service(
        Say(text, chunks=[text[i : i + 500] for i in range(0, len(text), 500)])
    )
    target = EditingTarget()
    await turn(service, said("@chatbot long"), target)
    assert all(len(s.text) <= target.max_length for s in target.sent)
    sends = [s.text for s in target.sent if s.kind == "send"]
    edits = [s.text for s in target.sent if s.kind == "edit"]
    assert edits, "streamed by editing the placeholder"
    # As it stands at the end: the placeholder's last edit, then the parts that followed.
    final = [edits[-1], *sends[1:]]
    assert len(final) >= 3 and " ".join(final).split() == text.split()


async def test_a_thread_is_seeded_once_and_the_bot_answers_in_threads_it_took_part_in() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    loads = 0

    async def earlier() -> list[IncomingMessage]:
        nonlocal loads
        loads += 1
        return [
            said("@chatbot capital of France?", channel="slack:T:C:1"),
            IncomingMessage("test", "slack:T:C:1", "a1", ME, "Paris."),
        ]

    await service.seed("slack:T:C:1", earlier)
    await service.seed("slack:T:C:1", earlier)
    assert loads == 1
    assert [m.role for m in store.messages] == ["user", "assistant"]
    await turn(service, said("and its population?", channel="slack:T:C:1", in_thread=True), target)
    sent = [t.content for t in provider.requests[0].turns]
    assert sent == ["alice: capital of France?", "Paris.", "alice: and its population?"]
    await turn(
        service, said("a thread without the bot", channel="slack:T:C:2", in_thread=True), target
    )
    assert len(provider.requests) == 1


async def test_one_source_cannot_ask_more_than_its_share() -> None:
    settings = BotSettings(source_turns_per_minute=1, source_turn_burst=2)
    service, store, provider = make_service(settings=settings)
    target = RecordingTarget()
    for i in range(4):
        await turn(service, said(f"@chatbot q{i}", source="web:10.0.0.1"), target)
    await turn(service, said("@chatbot from elsewhere", source="web:10.0.0.2"), target)
    assert len(provider.requests) == 3
    assert [s.meta.error for s in target.sent].count(ErrorKind.THROTTLED) == 2
    assert sum(1 for m in store.messages if m.role == "user") == 5


async def test_commands_are_answered_by_the_core_and_kept_out_of_context() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    await turn(service, said("@chatbot help"), target)
    await turn(service, said("@chatbot hi"), target)
    assert "Tags here" in target.texts()[0]
    assert store.messages[0].command == "help"
    assert [t.content for t in provider.requests[0].turns] == ["alice: hi"]


async def test_delivery_notice_falls_back_to_a_reply_where_the_platform_has_none() -> None:
    target = RecordingTarget()
    await Delivery(target, "chatbot").notice("not stored", ErrorKind.NOT_STORED)
    assert [(s.kind, s.meta.error) for s in target.sent] == [("send", ErrorKind.NOT_STORED)]


async def test_an_edit_is_remembered_and_a_deletion_stops_its_answer() -> None:
    service, store, provider = make_service(Say("slow", delay=5.0))
    target = RecordingTarget()
    await service.receive(said("@chatbot a question", message_id="q1"), target)
    await asyncio.sleep(0)
    assert await service.edited("test", "q1", "@chatbot a better question")
    assert store.messages[0].text == "@chatbot a better question"
    assert await service.deleted("test", ["q1"]) == 1
    await asyncio.wait_for(service.idle(), 1)  # the answer stopped, not five seconds later
    assert store.messages == [] and target.sent == []
    assert not await service.edited("test", "gone", "nothing to edit")


# -- long memory -------------------------------------------------------------------------------


async def seeded(service: ChatService, store: InMemoryStore, n: int, fact_at: int) -> None:
    target = RecordingTarget()
    for i in range(n):
        text = "the deadline moved to friday" if i == fact_at else f"chatter number {i}"
        await store.add(
            NewMessage(
                channel="web:room",
                platform="test",
                role="user",
                author_id="u:ben",
                author_name="ben",
                text=text,
                created_at=datetime.now(UTC),
            )
        )
    assert target.sent == []


async def test_summary_and_recall_share_the_budget_and_the_newest_turns_keep_priority() -> None:
    settings = BotSettings(
        max_history_tokens=2_000,
        memory=MemorySettings(summarise_after=10, summary_batch=50, summary_tokens=300),
    )
    service, store, provider = make_service(settings=settings)
    provider.default = lambda request: Say(
        "- ben said the deadline moved" if request.system.startswith("You keep") else "ok"
    )
    await seeded(service, store, 120, fact_at=5)
    target = RecordingTarget()
    await turn(service, said("@chatbot what about the deadline?"), target)
    first = provider.requests[0]
    assert "ben: the deadline moved to friday" in first.system  # recalled, before any summary
    assert "Older messages recalled" in first.system
    assert [m for m in store.summaries if m.channel == "web:room"], "written in the background"
    summary = store.summaries[-1]
    question = next(m for m in store.messages if m.text == "@chatbot what about the deadline?")
    window_start = question.id - 39  # the newest 40 turns, the question included
    assert window_start - 10 <= summary.covers_up_to_id < window_start  # what left the window
    await turn(service, said("@chatbot and again?"), target)
    second = [r for r in provider.requests if r.turns[-1].content == "alice: and again?"][0]
    assert "Earlier in this conversation" in second.system and "deadline moved" in second.system
    record = json.loads(store.messages[-1].context or "{}")
    assert record["summary"] > 0 and record["recent_turns"] == 40  # the window kept whole
    assert record["system"] + record["summary"] + record["recall"] + record["recent"] <= (
        record["budget"] + record["system"]
    )


async def test_a_young_channel_reads_no_summary_and_starts_no_summariser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, store, provider = make_service(Say("hi"), Say("hi again"))
    reads: list[str] = []
    for name in ("summary", "following"):
        real = getattr(store, name)

        async def counted(
            *args: object, _real: object = real, _name: str = name, **kw: object
        ) -> object:
            reads.append(_name)
            return await _real(*args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(store, name, counted)
    target = RecordingTarget()
    await turn(service, said("@chatbot hello"), target)
    await turn(service, said("@chatbot and again"), target)
    assert target.texts() == ["hi", "hi again"]
    # The whole channel fits the window: nothing to summarise or recall, nothing read for it
    # beyond the turn's one read (Memory.context).
    assert reads == []


async def test_a_long_history_is_summarised_from_its_last_backfill_messages_not_its_first() -> None:
    settings = BotSettings(
        memory=MemorySettings(summarise_after=10, summary_batch=40, summary_backfill=100)
    )
    service, store, provider = make_service(settings=settings)
    provider.default = lambda request: Say(
        "- digest" if request.system.startswith("You keep") else "ok"
    )
    await seeded(service, store, 1_000, fact_at=3)
    await turn(service, said("@chatbot what about the deadline?"), RecordingTarget())
    folded = [r.turns[0].content for r in provider.requests if r.system.startswith("You keep")]
    assert len(folded) == 3  # 100 messages, 40 a call: not 1,000 / 40 calls
    said_lines = [line for text in folded for line in text.splitlines() if "ben: " in line]
    numbers = [int(line.rsplit(" ", 1)[1]) for line in said_lines]
    assert numbers == list(range(861, 961))  # the 100 before the window (the newest 40 turns)
    assert store.summaries[-1].covers_messages == 100
    answered = provider.requests[0]  # the turn's own request, made before the summaries
    assert "ben: the deadline moved to friday" in answered.system  # recall reaches all of it


async def test_a_reset_hides_the_old_summary_and_a_failed_summary_never_fails_a_turn() -> None:
    settings = BotSettings(memory=MemorySettings(summarise_after=5, summary_batch=20))
    service, store, provider = make_service(settings=settings)
    provider.default = lambda request: (
        ProviderError(ErrorKind.SERVER, "summarizer down")
        if request.system.startswith("You keep")
        else Say("ok")
    )
    await seeded(service, store, 80, fact_at=3)
    target = RecordingTarget()
    await turn(service, said("@chatbot hello"), target)
    assert target.texts()[-1] == "ok" and store.summaries == []  # failed, logged, no harm
    store.summaries.append(
        Summary(
            "web:room", "", store.messages[10].id, 10, "old digest", "m", 1, 1, datetime.now(UTC)
        )
    )
    await turn(service, said("@chatbot reset", is_direct=True), target)  # a DM: theirs to reset
    assert "I forgot this channel" in target.texts()[-1]
    await turn(service, said("@chatbot after the reset"), target)
    last = provider.requests[-1]
    assert "old digest" not in last.system and "chatter" not in last.system


async def test_when_the_budget_is_tight_the_newest_turns_keep_their_share() -> None:
    settings = BotSettings(
        max_history_tokens=600,
        memory=MemorySettings(summary_tokens=1_000, recall_tokens=1_000, recent_share=0.5),
    )
    service, store, provider = make_service(settings=settings)
    for i in range(60):
        await store.add(
            NewMessage(
                channel="web:room",
                platform="test",
                role="user",
                author_id="u:ben",
                author_name="ben",
                text=f"deadline note {i} " + "filler " * 20,
                created_at=datetime.now(UTC),
            )
        )
    await turn(service, said("@chatbot the deadline notes?"), RecordingTarget())
    record = json.loads(store.messages[-1].context or "{}")
    assert record["recall"] > 0  # older notes recalled ...
    assert record["recall"] + record["summary"] <= record["budget"] // 2  # ... within their share
    assert record["recent"] >= record["budget"] // 2 - 60  # the newest turns keep theirs


async def test_an_explicit_question_is_stored_as_typed_and_never_a_command() -> None:
    service, store, provider = make_service(Say("an answer"))
    target = RecordingTarget()
    await turn(service, said("help", asks="chatbot", message_id="i1"), target)
    assert target.texts() == ["an answer"]  # a question to the model, not the help command
    assert [(m.text, m.tag, m.command) for m in store.messages[:1]] == [("help", "chatbot", None)]
    assert provider.requests[0].turns[-1].content == "alice: help"


async def test_a_refused_explicit_question_is_told_where_it_was_asked() -> None:
    service, store, _ = make_service()
    store.down = True
    target = RecordingTarget()  # no private notices: the interaction's reply is the place
    received = await service.receive(said("are you there?", asks="chatbot"), target)
    assert received.refused is ErrorKind.STORAGE
    assert target.sent[0].meta.error is ErrorKind.STORAGE


async def test_a_command_by_name_is_answered_like_the_tag_command_and_not_stored() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    await turn(service, said("@chatbot remember teal"), target)
    await service.command("help", said("/help"), target)
    assert "Tags here" in target.texts()[-1]
    await service.command("usage", said("/usage"), target)
    assert target.texts()[-1].startswith("Tokens in this channel today")
    await service.command("memory-or-not", said("/x"), target)
    assert target.texts()[-1].startswith("There is no `memory-or-not` command")
    assert len(store.messages) == 2  # the question and its answer; no command rows
    assert len(provider.requests) == 1


async def test_reset_by_name_has_the_same_permissions_as_the_tag_command() -> None:
    service, store, provider = make_service(
        rules=ChatRules(commands=CommandPolicy(reset_roles=("moderator",)))
    )
    target = RecordingTarget()
    channel = "discord:1:2"
    await turn(service, said("@chatbot remember teal", channel=channel), target)
    guest = replace(said("/reset", channel=channel), platform="discord")
    await service.command("reset", guest, target)
    assert target.texts()[-1].startswith("Only members with an allowed role")
    assert (await store.state(channel)).reset_after_id == 0
    moderator = replace(guest, roles=("moderator",))
    await service.command("reset", moderator, target)
    assert "forgot this channel" in target.texts()[-1]
    assert (await store.state(channel)).reset_after_id == store.messages[-1].id
    await turn(service, said("@chatbot what colour?", channel=channel), target)
    assert [t.content for t in provider.requests[-1].turns] == ["alice: what colour?"]


async def test_a_command_while_memory_is_down_gets_the_storage_line() -> None:
    service, store, _ = make_service()
    store.down = True
    target = RecordingTarget()
    await service.command("usage", said("/usage"), target)
    assert target.sent[0].meta.error is ErrorKind.STORAGE


def test_tags_for_a_channel_put_its_default_persona_first() -> None:
    service, _, _ = make_service(
        rules=ChatRules(channels={"discord:1": ChannelOverride(persona="dragon")})
    )
    settings = BotSettings()
    service.personas = {
        "chatbot": default_persona(settings),
        "dragon": replace(default_persona(settings), name="dragon"),
        "aaa": replace(default_persona(settings), name="aaa"),
    }
    assert [p.name for p in service.tags_for("discord:1:2")] == ["dragon", "aaa", "chatbot"]
    assert [p.name for p in service.tags_for("web:lobby")] == ["chatbot", "aaa", "dragon"]


class PacedTarget(EditingTarget):
    """Edits, and has a budget for streaming updates (Discord's per-channel limit)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.asked = 0

    def may_update(self) -> bool:
        self.asked += 1
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True


async def test_a_paced_target_skips_streaming_updates_over_its_budget_never_the_final() -> None:
    pieces = [f"w{i} " for i in range(10)]
    service, _, _ = make_service(Say("".join(pieces), chunks=pieces))
    target = PacedTarget(budget=2)
    await turn(service, said("@chatbot count"), target)
    kinds = [s.kind for s in target.sent]
    assert kinds == ["send", "edit", "edit"]  # placeholder, one edit, then the final text
    assert target.sent[-1].text == "".join(pieces)
    assert target.asked >= 3  # it kept asking while the budget was spent

    service, _, _ = make_service(Say("".join(pieces), chunks=pieces))
    broke = PacedTarget(budget=0)
    await turn(service, said("@chatbot count"), broke)
    assert [(s.kind, s.text) for s in broke.sent] == [("send", "".join(pieces))]


def slack_said(text: str, author: Author = ALICE, *, is_direct: bool = False) -> IncomingMessage:
    return IncomingMessage(
        platform="slack",
        channel="slack:T1:C1",
        message_id=None,
        author=author,
        text=text,
        is_direct=is_direct,
    )


async def test_a_command_asked_outside_the_chat_gets_the_chats_reply_and_permissions() -> None:
    service, store, provider = make_service()
    target = RecordingTarget()
    await turn(service, slack_said("hello there"), target)
    await service.command("help", slack_said(""), target)
    assert "Tags here" in target.texts()[-1]
    # The same rule as `@chatbot reset`: not an allowed user in a channel, refused.
    await service.command("reset", slack_said(""), target)
    assert "Only members with an allowed role" in target.texts()[-1]
    assert (await store.state("slack:T1:C1")).reset_after_id == 0
    # In a DM the person may; the reset reaches the newest stored message.
    await service.command("reset", slack_said("", is_direct=True), target)
    assert target.texts()[-1].startswith("Done: I forgot this channel")
    assert (await store.state("slack:T1:C1")).reset_after_id == store.messages[-1].id
    await service.command("usage", slack_said(""), target)
    assert target.texts()[-1].startswith("Tokens in this channel today")
    await service.command("nonsense", slack_said(""), target)
    assert target.texts()[-1].startswith("There is no `nonsense` command")
    # Nothing was stored for the commands, and the model was never called.
    assert [m.text for m in store.messages] == ["hello there"]
    assert provider.requests == []


async def test_a_viewed_conversation_is_read_instead_of_this_one_and_a_refusal_asks_nothing() -> (
    None
):
    from bot.types import Viewed

    service, store, provider = make_service(Say("a summary"))
    target = RecordingTarget()
    await turn(service, said("lunch at noon?", channel="slack:T1:C9"), target)
    await turn(service, said("yes, noon", Author("u:bob", "bob"), channel="slack:T1:C9"), target)
    await turn(service, said("an older question", channel="slack:T1:D1:1.0"), target)
    viewed = Viewed("slack:T1:C9", "#lunch", tuple(await service.history("slack:T1:C9", 10)))
    ask = replace(said("summarise this channel", channel="slack:T1:D1:1.0"), viewing=viewed)
    await turn(service, replace(ask, asks="chatbot"), target)
    turns = [t.content for t in provider.requests[0].turns]
    assert turns == ["alice: lunch at noon?", "bob: yes, noon", "alice: summarise this channel"]
    assert target.texts() == ["a summary"]
    # The question and the answer are remembered where they were said, not in the channel.
    assert [m.text for m in store.messages if m.channel == "slack:T1:C9"] == [
        "lunch at noon?",
        "yes, noon",
    ]
    refused = Viewed("slack:T1:C7", "that channel", refused="I am not a member of that channel.")
    await turn(service, replace(ask, message_id=None, viewing=refused, asks="chatbot"), target)
    assert target.texts()[-1] == "I am not a member of that channel."
    assert len(provider.requests) == 1
