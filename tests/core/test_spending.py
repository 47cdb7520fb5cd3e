"""Spending limits, prices and run-time channel settings in the core's turn, with fakes.

The same policy on the real store, across two app instances, is tests/e2e/test_spending.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.channel_rules import ChannelOverride, ChatRules
from bot.errors import ErrorKind
from bot.personas import Persona, default_persona
from bot.prices import Price, PriceTable
from bot.service import ChatService
from bot.settings import BotSettings, SpendingSettings
from bot.spending import Use, refusal_line, resets_at
from bot.types import Author, ChannelSettings, CounterKey, IncomingMessage, Limit, Usage
from testing.fakes import FakeProvider, InMemoryStore, RecordingTarget, Say

ALICE = Author(id="web:alice", name="alice")
BOB = Author(id="web:bob", name="bob")
PRICES = PriceTable(
    {"gpt-x": Price(input=2.0, output=8.0, cached_input=0.5), "gpt-x-mini": Price(0.4, 1.6)},
    as_of="2025-08-15",
)
ANSWER = Usage(11, 7, 18, "gpt-x-2025-04-14", "fake")  # 18 tokens an answer


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make(
    *limits: Limit,
    tag_limits: dict[str, tuple[Limit, ...]] | None = None,
    clock: Clock | None = None,
    rules: ChatRules | None = None,
    usage: Usage = ANSWER,
) -> tuple[ChatService, InMemoryStore, FakeProvider]:
    settings = BotSettings(
        spending=SpendingSettings(limits=limits, tag_limits=tag_limits or {}, prices=PRICES)
    )
    store = InMemoryStore()
    provider = FakeProvider()
    provider.default = lambda request: Say("ok", usage=usage)
    chatbot = default_persona(settings)
    dragon = Persona("dragon", "You are a dragon.", settings.model, 20, 4000)
    service = ChatService(
        store,
        lambda name: provider,
        settings,
        {"chatbot": chatbot, "dragon": dragon},
        edit_interval=0.0,
        rules=rules,
        clock=clock or Clock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),
    )
    service.channel_settings.ttl = 0  # read the run-time settings on every message
    return service, store, provider


def said(
    text: str, author: Author = ALICE, channel: str = "web:room", parent: str | None = None
) -> IncomingMessage:
    return IncomingMessage("web", channel, None, author, text, parent_channel=parent)


async def ask(service: ChatService, message: IncomingMessage) -> RecordingTarget:
    target = RecordingTarget()
    await service.receive(message, target)
    await service.idle()
    return target


async def test_a_user_over_the_daily_cap_gets_the_line_and_no_model_call() -> None:
    service, store, provider = make(Limit("user", "day", tokens=36))
    for i in range(2):
        assert (await ask(service, said(f"@chatbot q{i}"))).texts() == ["ok"]
    refused = await ask(service, said("@chatbot one more"))
    assert len(provider.requests) == 2  # no model call for the third
    [sent] = refused.sent
    assert sent.meta.error is ErrorKind.OVER_LIMIT
    assert sent.text == (
        "Spending limit reached: you have used 36 tokens of your 36 tokens a day (UTC). "
        "It resets at 00:00 UTC, in 12 h."
    )
    assert store.messages[-1].text == "@chatbot one more"  # the question is still stored
    assert [f.kind for f in store.failures] == ["over_limit"]
    # Someone else in the same room is not limited by alice's use.
    assert (await ask(service, said("@chatbot hi", author=BOB))).texts() == ["ok"]
    assert len(provider.requests) == 3


async def test_the_cap_resets_at_the_utc_boundary() -> None:
    clock = Clock(datetime(2026, 3, 31, 23, 58, tzinfo=UTC))
    service, _, provider = make(
        Limit("user", "day", tokens=18), Limit("channel", "month", tokens=54), clock=clock
    )
    await ask(service, said("@chatbot first"))
    refused = await ask(service, said("@chatbot second"))
    assert "resets at 00:00 UTC, in 2 min" in refused.texts()[0]
    clock.at = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    assert (await ask(service, said("@chatbot still today"))).sent[0].meta.error is not None
    clock.at = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)  # a new day, and a new month
    assert (await ask(service, said("@chatbot new day"))).texts() == ["ok"]
    assert len(provider.requests) == 2
    # The month limit: 54 tokens for the channel, whoever asks.
    await ask(service, said("@chatbot bob", author=BOB))
    await ask(service, said("@chatbot carol", author=Author("web:carol", "carol")))
    over = await ask(service, said("@chatbot dave", author=Author("web:dave", "dave")))
    assert over.texts() == [
        "Spending limit reached: this channel has used 54 tokens of its 54 tokens a month "
        "(UTC). It resets on 2026-05-01 at 00:00 UTC, in 30 days."
    ]


def test_reset_moments() -> None:
    now = datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
    assert resets_at("day", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets_at("month", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets_at("month", datetime(2026, 2, 1, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
    line = refusal_line(
        Use(Limit("platform", "day", cost_usd=1.5, tag="dragon"), 0, 1.5213), now, "slack"
    )
    assert line == (
        "Spending limit reached: everyone on slack together has used $1.52 of their $1.50 "
        "a day (UTC) on @dragon. It resets at 00:00 UTC, in 5 h 30 min."
    )


async def test_each_answer_carries_its_cost_from_the_price_table() -> None:
    cached = Usage(1000, 500, 1500, "gpt-x-2025-04-14", "fake", cached_input_tokens=400)
    service, store, _ = make(usage=cached)
    await ask(service, said("@chatbot price me"))
    answer = store.messages[-1]
    assert answer.usage is not None
    # 600 fresh input at $2, 400 cached at $0.50, 500 output at $8 per million.
    assert answer.usage.cost_usd == pytest.approx((600 * 2 + 400 * 0.5 + 500 * 8) / 1e6)
    # The counters got it too: every scope, on all tags and on the answering one.
    day = date(2026, 3, 10)
    for key in (
        CounterKey("user", "web:alice"),
        CounterKey("channel", "web:room"),
        CounterKey("platform", "web", "chatbot"),
    ):
        assert store.counters[(key, day)][:2] == [1500, pytest.approx(0.0054)]


def test_prices_longest_prefix_and_unknown_models() -> None:
    assert PRICES.price_of("gpt-x-mini-2025") == Price(0.4, 1.6)  # not gpt-x's
    assert PRICES.price_of("models/GPT-X") == PRICES.models["gpt-x"]
    assert PRICES.cost(Usage(10, 10, 20, "llama3.2", "openai")) is None
    # A server that reports no model name: the model that was asked for.
    assert PRICES.cost(Usage(1_000_000, 0, 0, "", "openai"), "gpt-x") == 2.0


async def test_a_cost_limit_counts_dollars_and_a_tag_limit_only_its_tag() -> None:
    big = Usage(100_000, 10_000, 110_000, "gpt-x", "fake")  # $0.28 an answer
    service, _, provider = make(
        Limit("user", "month", cost_usd=0.50),
        tag_limits={"dragon": (Limit("user", "day", tokens=100_000, tag="dragon"),)},
        usage=big,
    )
    assert (await ask(service, said("@dragon tale one"))).texts() == ["ok"]
    dragon_over = await ask(service, said("@dragon tale two"))
    assert "110,000 tokens of your 100,000 tokens a day (UTC) on @dragon" in dragon_over.texts()[0]
    assert (await ask(service, said("@chatbot plain"))).texts() == ["ok"]  # not a dragon turn
    over = await ask(service, said("@chatbot again"))
    assert "you have used $0.56 of your $0.50 a month (UTC)." in over.texts()[0]
    assert len(provider.requests) == 2


async def test_a_thread_counts_with_its_channel() -> None:
    service, _, provider = make(Limit("channel", "day", tokens=36))
    await ask(service, said("@chatbot in the channel", channel="slack:T:C"))
    await ask(service, said("@chatbot in a thread", channel="slack:T:C:1.2", parent="slack:T:C"))
    other = await ask(
        service, said("@chatbot another thread", channel="slack:T:C:3.4", parent="slack:T:C")
    )
    assert other.sent[0].meta.error is ErrorKind.OVER_LIMIT and len(provider.requests) == 2
    # Another channel has its own count.
    assert (await ask(service, said("@chatbot elsewhere", channel="slack:T:D"))).texts() == ["ok"]


async def test_usage_shows_the_askers_own_use_and_the_limits_on_them() -> None:
    service, _, _ = make(
        Limit("user", "day", tokens=20_000),
        tag_limits={"dragon": (Limit("channel", "month", cost_usd=2.0, tag="dragon"),)},
    )
    await ask(service, said("@chatbot hi"))
    await ask(service, said("@chatbot hi", author=BOB))
    text = (await ask(service, said("@chatbot usage"))).texts()[0]
    assert "gpt-x-2025-04-14 36 tokens (in 22 / out 14, 2 answers, est. $0.0002)" in text
    assert "You (all channels): today 18 tokens ($0.0001), this month 18 tokens" in text
    assert (
        "• each person, per day: 18 tokens of 20,000 tokens used (resets at 00:00 UTC, in 12 h)"
        in text
    )
    assert "• @dragon, the channel, per month: $0 of $2.00 used (resets on 2026-04-01" in text


async def test_the_consoles_channel_limits_and_persona_apply_at_turn_time() -> None:
    rules = ChatRules(channels={"web:room": ChannelOverride(persona="dragon")})
    service, store, provider = make(Limit("user", "day", tokens=1_000_000), rules=rules)
    await ask(service, said("@chatbot who answers?"))
    assert store.messages[-1].author_name == "dragon"  # the file's persona
    await store.save_channel_settings(
        ChannelSettings("web:room", persona="chatbot", limits=(Limit("channel", "day", tokens=36),))
    )
    await ask(service, said("@chatbot and now?"))
    assert store.messages[-1].author_name == "chatbot"  # the run-time persona
    over = await ask(service, said("@chatbot once more"))
    # The channel's own limit replaced the file's [[limits]]: 36 tokens, both answers' use.
    assert over.sent[0].meta.error is ErrorKind.OVER_LIMIT and "this channel" in over.texts()[0]
    assert len(provider.requests) == 2
    assert service.rules.in_file("web:room").persona == "dragon"  # the file's, still known
    # Cleared: the file's settings again.
    await store.save_channel_settings(ChannelSettings("web:room"))
    await ask(service, said("@chatbot back?"))
    assert store.messages[-1].author_name == "dragon"


async def test_run_time_settings_are_cached_for_their_ttl() -> None:
    service, store, _ = make()
    ticks = [0.0]
    service.channel_settings.clock = lambda: ticks[0]
    service.channel_settings.ttl = 5.0
    await ask(service, said("plain"))
    await store.save_channel_settings(ChannelSettings("web:room", persona="dragon"))
    await ask(service, said("@chatbot cached?"))
    assert store.messages[-1].author_name == "chatbot"  # within the ttl: the old copy
    ticks[0] = 5.0
    await ask(service, said("@chatbot now?"))
    assert store.messages[-1].author_name == "dragon"
    # A store that fails keeps the last copy.
    store.down = True
    await service.channel_settings.refresh()
    ticks[0] = 11.0
    await service.channel_settings.refresh()
    assert service.rules.for_channel("web:room").persona == "dragon"


async def test_failed_turns_are_remembered_with_their_kind() -> None:
    service, store, provider = make()
    provider.script.extend([KeyError("a bug")])
    await ask(service, said("@chatbot boom", channel="web:lab"))
    assert [(f.channel, f.kind, f.tag) for f in store.failures] == [
        ("web:lab", "server_error", "chatbot")
    ]
    assert store.failures[0].platform == "web"
