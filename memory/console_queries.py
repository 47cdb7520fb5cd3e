"""The console's read model: what the operator's page shows, as plain functions of a connection
(run through SQLStore.read; the same statements on SQLite and PostgreSQL).

These are not on any chat's path. They aggregate the stored messages (a scan of the last 30
days, and of the (channel, id) index for all-time counts), so the page costs the database
some work on a big store (bench/spending.py measures it); the turn's own limit check reads the
counters instead (memory/spending.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from memory.rows import FAILURES, MESSAGES, SUMMARIES, utc

_m = MESSAGES.c
_f = FAILURES.c
_s = SUMMARIES.c

PERIODS = {"today": 0, "7d": 6, "30d": 29}  # days before today that each period reaches


def _since(now: datetime, days_back: int) -> datetime:
    start = datetime.combine(now.date() - timedelta(days=days_back), datetime.min.time())
    return start.replace(tzinfo=UTC)


def _day(conn: Connection, column: Any) -> Any:
    """The UTC day of a stored time, as 'YYYY-MM-DD' (SQLite keeps UTC text; PostgreSQL a
    timestamptz, read in UTC whatever the session's zone)."""
    if conn.dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


@dataclass
class Figures:
    messages: int = 0
    turns: int = 0  # addressed questions (commands not included)
    tokens: int = 0  # of the answers
    cost_usd: float = 0.0


@dataclass
class ChannelLine:
    channel: str
    platform: str
    messages_total: int
    last_at: str | None
    periods: dict[str, Figures] = field(default_factory=dict)


def _sum_if(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def channel_table(conn: Connection, now: datetime) -> list[ChannelLine]:
    """Every channel on every platform: all-time messages, and per period messages, turns,
    tokens and estimated cost."""
    totals = conn.execute(
        select(_m.channel, func.count(), func.max(_m.id)).group_by(_m.channel)
    ).all()
    newest = [int(r[2]) for r in totals]
    platform_of: dict[str, str] = {}
    last_of: dict[str, str] = {}
    for start in range(0, len(newest), 500):
        for channel, platform, at in conn.execute(
            select(_m.channel, _m.platform, _m.created_at).where(
                _m.id.in_(newest[start : start + 500])
            )
        ).all():
            platform_of[channel] = platform
            last_of[channel] = utc(at).isoformat()
    since = {name: _since(now, back) for name, back in PERIODS.items()}
    turn = and_(_m.role == "user", _m.tag.is_not(None), _m.command.is_(None))
    answer = _m.role == "assistant"
    columns: list[Any] = []
    for begins in since.values():
        recent = _m.created_at >= begins
        columns += [
            _sum_if(recent),
            _sum_if(and_(recent, turn)),
            _sum_if(and_(recent, answer), func.coalesce(_m.total_tokens, 0)),
            _sum_if(and_(recent, answer), func.coalesce(_m.cost_usd, 0.0)),
        ]
    recent_rows = {
        r[0]: r[1:]
        for r in conn.execute(
            select(_m.channel, *columns).where(_m.created_at >= since["30d"]).group_by(_m.channel)
        ).all()
    }
    lines = []
    for channel, count, _ in totals:
        figures = recent_rows.get(channel)
        periods = {}
        for i, name in enumerate(PERIODS):
            if figures is None:
                periods[name] = Figures()
                continue
            m, t, tok, cost = figures[4 * i : 4 * i + 4]
            periods[name] = Figures(int(m), int(t), int(tok), float(cost))
        lines.append(
            ChannelLine(
                channel=channel,
                platform=platform_of.get(channel, channel.split(":", 1)[0]),
                messages_total=int(count),
                last_at=last_of.get(channel),
                periods=periods,
            )
        )
    return lines


@dataclass
class DayUsage:
    day: str
    model: str
    platform: str
    answers: int
    tokens: int
    cost_usd: float


def daily_usage(conn: Connection, now: datetime, days: int = 30) -> list[DayUsage]:
    """Tokens and estimated cost of the answers per UTC day, model and platform."""
    day = _day(conn, _m.created_at)
    rows = conn.execute(
        select(
            day,
            _m.model,
            _m.platform,
            func.count(),
            func.coalesce(func.sum(_m.total_tokens), 0),
            func.coalesce(func.sum(_m.cost_usd), 0.0),
        )
        .where(_m.role == "assistant", _m.created_at >= _since(now, days - 1))
        .group_by(day, _m.model, _m.platform)
        .order_by(day)
    ).all()
    return [DayUsage(r[0], r[1] or "?", r[2], int(r[3]), int(r[4]), float(r[5])) for r in rows]


@dataclass
class DayFailures:
    day: str
    kind: str
    count: int


@dataclass
class Failure:
    at: str
    channel: str
    platform: str
    kind: str
    tag: str | None


def failures(
    conn: Connection, now: datetime, days: int = 30, latest: int = 20
) -> tuple[list[DayFailures], list[Failure]]:
    """Failed turns per UTC day and kind, and the latest few."""
    day = _day(conn, _f.created_at)
    since = _since(now, days - 1)
    per_day = conn.execute(
        select(day, _f.kind, func.count())
        .where(_f.created_at >= since)
        .group_by(day, _f.kind)
        .order_by(day)
    ).all()
    newest = conn.execute(select(FAILURES).order_by(_f.id.desc()).limit(latest)).all()
    return (
        [DayFailures(r[0], r[1], int(r[2])) for r in per_day],
        [
            Failure(utc(r.created_at).isoformat(), r.channel, r.platform, r.kind, r.tag)
            for r in newest
        ],
    )


@dataclass
class Person:
    user: str  # the asker's id as stored (`web:alice`, `discord:123`, Slack's `U123`)
    platform: str
    name: str
    periods: dict[str, Figures] = field(default_factory=dict)


def top_people(conn: Connection, now: datetime, limit: int = 20) -> list[Person]:
    """Who the answers of the last 30 days were for, most tokens first."""
    since = {name: _since(now, back) for name, back in PERIODS.items()}
    columns: list[Any] = []
    for start in since.values():
        recent = _m.created_at >= start
        columns += [
            _sum_if(recent),
            _sum_if(recent, func.coalesce(_m.total_tokens, 0)),
            _sum_if(recent, func.coalesce(_m.cost_usd, 0.0)),
        ]
    tokens_30d = columns[-2]
    rows = conn.execute(
        select(_m.asker_id, _m.platform, *columns)
        .where(_m.role == "assistant", _m.asker_id.is_not(None), _m.created_at >= since["30d"])
        .group_by(_m.asker_id, _m.platform)
        .order_by(tokens_30d.desc())
        .limit(limit)
    ).all()
    names = _names(conn, [r[0] for r in rows])
    people = []
    for r in rows:
        periods = {}
        for i, name in enumerate(PERIODS):
            answers, tokens, cost = r[2 + 3 * i : 5 + 3 * i]
            periods[name] = Figures(turns=int(answers), tokens=int(tokens), cost_usd=float(cost))
        people.append(Person(r[0], r[1], names.get(r[0]) or str(r[0]), periods))
    return people


def _names(conn: Connection, authors: Sequence[str]) -> dict[str, str]:
    """Each author's latest name."""
    if not authors:
        return {}
    newest = [
        r[0]
        for r in conn.execute(
            select(func.max(_m.id))
            .where(_m.author_id.in_(list(authors)), _m.role == "user")
            .group_by(_m.author_id)
        ).all()
    ]
    return {
        r[0]: r[1]
        for r in conn.execute(select(_m.author_id, _m.author_name).where(_m.id.in_(newest))).all()
    }


@dataclass
class ChannelMemory:
    messages: int
    chars: int  # of the stored text
    first_at: str | None
    last_id: int
    summaries: int  # versions kept


def channel_memory(conn: Connection, channel: str) -> ChannelMemory:
    count, chars, first, last = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(func.length(_m.text)), 0),
            func.min(_m.created_at),
            func.coalesce(func.max(_m.id), 0),
        ).where(_m.channel == channel)
    ).one()
    versions = conn.execute(select(func.count()).where(_s.channel == channel)).scalar() or 0
    return ChannelMemory(
        messages=int(count),
        chars=int(chars),
        first_at=utc(first).isoformat() if first is not None else None,
        last_id=int(last),
        summaries=int(versions),
    )


def day_range(now: datetime, days: int) -> list[str]:
    first: date = now.date() - timedelta(days=days - 1)
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]
