"""A week of turns on three platforms, stored through the real store, for the console's tests.

Each day of the last seven (UTC), each channel gets `day + 1` questions and answers (day 0 is
six days ago), priced from the shipped price table and counted in the spending counters as the
core would; a few failed turns; a summary; one nickname that is markup. `expected_*` say what
the console must show for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.spending import Subjects, user_key
from bot.types import Charge, CounterKey, FailedTurn, NewMessage, Summary, Usage
from chatbot.tags_config import load_config
from memory.store import SQLStore

XSS_NAME = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Channel:
    key: str
    platform: str
    model: str
    provider: str
    people: tuple[tuple[str, str], ...]  # (author id, name)


CHANNELS = (
    Channel("web:lobby", "web", "gpt-4.1", "openai", (("web:alice", "alice"), ("web:bob", "bob"))),
    Channel("web:class", "web", "gpt-4.1", "openai", (("web:xss", XSS_NAME),)),
    Channel("slack:T1:C1", "slack", "gpt-4.1-mini", "openai", (("U100", "minji"),)),
    Channel("discord:G1:C1", "discord", "gemini-2.5-flash", "gemini", (("discord:42", "jun"),)),
)
DAYS = 7
PRICES = load_config(None).prices


def usage_of(channel: Channel, day: int) -> Usage:
    prompt, output = 1_000 * (day + 1), 100 * (day + 1)
    usage = Usage(prompt, output, prompt + output, channel.model, channel.provider)
    return PRICES.priced(usage)


def day_of(today: datetime, day: int) -> datetime:
    start = datetime.combine(today.date() - timedelta(days=DAYS - 1 - day), time(9), tzinfo=UTC)
    return start


@dataclass
class Seeded:
    # (UTC day, model) -> tokens, cost; (UTC day, platform) -> tokens; per channel totals
    by_model: dict[tuple[str, str], list[float]]
    by_platform: dict[tuple[str, str], list[float]]
    channel_tokens: dict[str, int]
    channel_cost: dict[str, float]
    channel_messages: dict[str, int]
    failures: dict[tuple[str, str], int]


async def seed_week(store: SQLStore, now: datetime | None = None) -> Seeded:
    now = now or datetime.now(UTC)
    by_model: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    by_platform: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    tokens: dict[str, int] = defaultdict(int)
    cost: dict[str, float] = defaultdict(float)
    messages: dict[str, int] = defaultdict(int)
    failures: dict[tuple[str, str], int] = defaultdict(int)
    for day in range(DAYS):
        at = day_of(now, day)
        iso = at.date().isoformat()
        for channel in CHANNELS:
            for i in range(day + 1):
                author, name = channel.people[i % len(channel.people)]
                asked = at + timedelta(minutes=2 * i)
                await store.add(
                    NewMessage(
                        channel.key,
                        channel.platform,
                        "user",
                        author,
                        name,
                        f"question {i} on day {day}",
                        asked,
                        tag="chatbot",
                    )
                )
                usage = usage_of(channel, day)
                subjects = Subjects(
                    user_key(channel.platform, author), channel.key, channel.platform
                )
                keys = [CounterKey(s, subjects.of(s)) for s in ("user", "channel", "platform")]
                keys += [
                    CounterKey(s, subjects.of(s), "chatbot")
                    for s in ("user", "channel", "platform")
                ]
                await store.add(
                    NewMessage(
                        channel.key,
                        channel.platform,
                        "assistant",
                        "bot:chatbot",
                        "chatbot",
                        f"answer {i} on day {day}",
                        asked + timedelta(seconds=5),
                        tag="chatbot",
                        usage=usage,
                        asker_id=author,
                        charge=Charge(at.date(), tuple(keys)),
                    )
                )
                messages[channel.key] += 2
                tokens[channel.key] += usage.total_tokens
                cost[channel.key] += usage.cost_usd or 0.0
                by_model[(iso, channel.model)][0] += usage.total_tokens
                by_model[(iso, channel.model)][1] += usage.cost_usd or 0.0
                by_platform[(iso, channel.platform)][0] += usage.total_tokens
                by_platform[(iso, channel.platform)][1] += usage.cost_usd or 0.0
        for kind, count in (("rate_limited", day % 3), ("timed_out", 1 if day in (2, 5) else 0)):
            for _ in range(count):
                await store.record_failure(FailedTurn("web:lobby", "web", kind, at, "chatbot"))
                failures[(iso, kind)] += 1
    await store.save_summary(
        Summary(
            "web:lobby",
            "",
            10,
            10,
            "alice and bob talked about the exam on Friday.",
            "gpt-4.1-mini",
            500,
            40,
            now,
        )
    )
    return Seeded(by_model, by_platform, dict(tokens), dict(cost), dict(messages), dict(failures))
