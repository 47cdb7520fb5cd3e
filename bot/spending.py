"""Spending limits: tokens or money per user, channel or platform, per UTC day or month.

Every stored answer carries its estimated cost (bot/prices.py) and counts, in the same
transaction, in the database's spending counters (one row per scope's subject, tag and UTC day;
memory/spending.py), so a count holds across processes and restarts. Before a model call the
turn reads the counters its limits name, in one indexed read, and a turn over a limit gets one
line saying which limit and when it resets, and no model call.

Limits come from the TOML (`[[limits]]`, `[[tags.<tag>.limits]]`, `[[channels."<key>".limits]]`)
or from the console, whose per-channel limits replace the TOML's in that channel (tag limits
always apply). A turn already running when a limit is reached still finishes: a count can pass
a limit by what the turns in flight at that moment use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.memory import Memory
from bot.settings import SpendingSettings
from bot.types import (
    ChannelKey,
    Charge,
    CounterKey,
    DaySpend,
    IncomingMessage,
    Limit,
    StoredMessage,
    Usage,
    utcnow,
)

SCOPES = ("user", "channel", "platform")
PERIODS = ("day", "month")


@dataclass(frozen=True, slots=True)
class Subjects:
    """Who a turn's spending counts for: the asker, the channel (a thread's parent), the
    platform."""

    user: str
    channel: ChannelKey
    platform: str

    def of(self, scope: str) -> str:
        return {"user": self.user, "channel": self.channel, "platform": self.platform}[scope]


def user_key(platform: str, author_id: str) -> str:
    """A person across the store: ids are platform-prefixed (`web:alice`, `discord:123`) except
    where the platform's own are bare (Slack's `U123`)."""
    return author_id if author_id.startswith(f"{platform}:") else f"{platform}:{author_id}"


def subjects_of(asked: StoredMessage, message: IncomingMessage | None = None) -> Subjects:
    parent = message.parent_channel if message is not None else None
    return Subjects(
        user=user_key(asked.platform, asked.author_id),
        channel=parent or asked.channel,
        platform=asked.platform,
    )


def subjects_for(message: IncomingMessage, channel: ChannelKey) -> Subjects:
    """Whom a request that is not stored (a command) concerns: its sender, in `channel`."""
    return Subjects(
        user=user_key(message.platform, message.author.id),
        channel=message.parent_channel or channel,
        platform=message.platform,
    )


def key_of(limit: Limit, subjects: Subjects) -> CounterKey:
    return CounterKey(limit.scope, subjects.of(limit.scope), limit.tag or "")


def period_start(period: str, today: date) -> date:
    return today if period == "day" else today.replace(day=1)


def resets_at(period: str, now: datetime) -> datetime:
    """The next UTC midnight (day) or the first of the next month (month)."""
    today = now.date()
    if period == "day":
        nxt = today + timedelta(days=1)
    else:
        nxt = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(nxt, time(0), tzinfo=now.tzinfo)


@dataclass(frozen=True, slots=True)
class Use:
    """A limit and what its counter holds this period."""

    limit: Limit
    tokens: int
    cost_usd: float

    @property
    def used(self) -> float:
        return self.tokens if self.limit.tokens is not None else self.cost_usd

    @property
    def cap(self) -> float:
        cap = self.limit.tokens if self.limit.tokens is not None else self.limit.cost_usd
        return float(cap or 0)

    @property
    def over(self) -> bool:
        return self.used >= self.cap


def usd(amount: float) -> str:
    if amount == 0:
        return "$0"
    if abs(amount) < 0.00005:
        return "under $0.0001"
    return f"${amount:.4f}" if abs(amount) < 0.01 else f"${amount:,.2f}"


def amount(limit: Limit, value: float) -> str:
    return f"{int(value):,} tokens" if limit.tokens is not None else usd(value)


def until(moment: datetime, now: datetime) -> str:
    minutes = max(0, int((moment - now).total_seconds() // 60))
    if minutes < 1:
        return "in less than a minute"
    if minutes < 60:
        return f"in {minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"in {hours} h {rest} min" if rest else f"in {hours} h"
    return f"in {round(minutes / 1440)} days"


def when_it_resets(period: str, now: datetime) -> str:
    moment = resets_at(period, now)
    if period == "day":
        return f"at 00:00 UTC, {until(moment, now)}"
    return f"on {moment:%Y-%m-%d} at 00:00 UTC, {until(moment, now)}"


_WHO = {
    "user": ("you have used", "your"),
    "channel": ("this channel has used", "its"),
    "platform": ("everyone on {platform} together has used", "their"),
}


def refusal_line(use: Use, now: datetime, platform: str) -> str:
    """The one line a turn over a limit gets: which limit, and when it resets."""
    limit = use.limit
    who, whose = _WHO[limit.scope]
    tag = f" on @{limit.tag}" if limit.tag else ""
    return (
        f"Spending limit reached: {who.format(platform=platform)} {amount(limit, use.used)} "
        f"of {whose} {amount(limit, use.cap)} a {limit.period} (UTC){tag}. "
        f"It resets {when_it_resets(limit.period, now)}."
    )


def label(limit: Limit) -> str:
    """`@dragon, each person, per day` (the console and `@chatbot usage`)."""
    who = {"user": "each person", "channel": "the channel", "platform": "the platform"}
    tag = f"@{limit.tag}, " if limit.tag else ""
    return f"{tag}{who[limit.scope]}, per {limit.period}"


def describe(limit: Limit) -> str:
    """`each person, per day: 20,000 tokens`."""
    cap = limit.tokens if limit.tokens is not None else (limit.cost_usd or 0)
    return f"{label(limit)}: {amount(limit, cap)}"


def totals(rows: Iterable[DaySpend], key: CounterKey, since: date) -> tuple[int, float]:
    tokens, cost = 0, 0.0
    for row in rows:
        if row.key == key and row.day >= since:
            tokens += row.tokens
            cost += row.cost_usd
    return tokens, cost


class Spending:
    """Prices answers, says which counters they count in, and checks a turn's limits.

    `limits_for(channel)`: the channel's limits set at run time (the console), or None for
    the TOML's; read from a short-lived cache (bot/channel_overrides.py), never the database.
    """

    def __init__(
        self,
        memory: Memory,
        settings: SpendingSettings,
        *,
        limits_for: Callable[[ChannelKey], tuple[Limit, ...] | None] = lambda _: None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.memory = memory
        self.settings = settings
        self.limits_for = limits_for
        self.clock = clock

    def channel_limits(self, channel: ChannelKey) -> tuple[Limit, ...]:
        """The limits on every tag in a channel: the console's, else the TOML's."""
        override = self.limits_for(channel)
        return self.settings.limits if override is None else override

    def limits(self, channel: ChannelKey, tag: str) -> list[Limit]:
        """Every limit a turn answered by `tag` in `channel` is under."""
        return [*self.channel_limits(channel), *self.settings.tag_limits.get(tag, ())]

    def priced(self, usage: Usage, model: str = "") -> Usage:
        return self.settings.prices.priced(usage, model)

    def charge(self, subjects: Subjects, tag: str) -> Charge:
        """Every counter an answer counts in: each scope, on all tags and on its own, today.

        All of them, whatever limits are set now, so a limit added later (the console) starts
        from what was really spent this period.
        """
        keys = [CounterKey(scope, subjects.of(scope)) for scope in SCOPES]
        keys += [CounterKey(scope, subjects.of(scope), tag) for scope in SCOPES]
        return Charge(day=self.clock().date(), keys=tuple(keys))

    async def uses(self, limits: Sequence[Limit], subjects: Subjects) -> list[Use]:
        """What each limit's counter holds this period: one read of the counters."""
        if not limits:
            return []
        today = self.clock().date()
        since = min(period_start(limit.period, today) for limit in limits)
        keys = list(dict.fromkeys(key_of(limit, subjects) for limit in limits))
        rows = await self.memory.spent(keys, since)
        found = []
        for limit in limits:
            tokens, cost = totals(rows, key_of(limit, subjects), period_start(limit.period, today))
            found.append(Use(limit, tokens, cost))
        return found

    async def refusal(
        self, subjects: Subjects, channel: ChannelKey, tag: str
    ) -> tuple[Limit, str] | None:
        """The first limit this turn is over, with its line; None: the turn may go on."""
        limits = self.limits(channel, tag)
        for use in await self.uses(limits, subjects):
            if use.over:
                return use.limit, refusal_line(use, self.clock(), subjects.platform)
        return None

    async def report(self, subjects: Subjects, channel: ChannelKey) -> str:
        """`@chatbot usage`: the asker's own use, and the limits that apply to them here."""
        now = self.clock()
        today = now.date()
        limits = list(self.channel_limits(channel))
        for tag_limits in self.settings.tag_limits.values():
            limits += tag_limits
        own = CounterKey("user", subjects.user)
        keys = list(dict.fromkeys([own, *(key_of(limit, subjects) for limit in limits)]))
        rows = await self.memory.spent(keys, period_start("month", today))
        day_tokens, day_cost = totals(rows, own, today)
        month_tokens, month_cost = totals(rows, own, period_start("month", today))
        lines = [
            f"You (all channels): today {day_tokens:,} tokens ({usd(day_cost)}), "
            f"this month {month_tokens:,} tokens ({usd(month_cost)}), estimated."
        ]
        if not limits:
            lines.append("No spending limits apply to you here.")
            return "\n".join(lines)
        lines.append("Spending limits that apply to you here:")
        for limit in limits:
            tokens, cost = totals(rows, key_of(limit, subjects), period_start(limit.period, today))
            use = Use(limit, tokens, cost)
            state = "reached" if use.over else "used"
            lines.append(
                f"• {label(limit)}: {amount(limit, use.used)} of {amount(limit, use.cap)} "
                f"{state} (resets {when_it_resets(limit.period, now)})"
            )
        return "\n".join(lines)
