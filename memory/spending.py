"""Spending counters, run-time channel settings and failed turns: plain functions of a
connection, run by memory/store.py on both engines with the same statements.

Counters (`usage_counts`, one row per scope, subject, tag and UTC day) are added to in the
transaction that stores the answer; two processes adding to one row both count, since each
adds in one `INSERT ... ON CONFLICT DO UPDATE SET tokens = tokens + n`. A turn's limit check reads a few rows by
primary key: its cost does not grow with the number of stored answers (bench/spending.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.types import ChannelSettings, Charge, CounterKey, DaySpend, FailedTurn, Limit
from memory.rows import CHANNEL_SETTINGS, FAILURES, USAGE_COUNTS, utc

log = logging.getLogger(__name__)

_u = USAGE_COUNTS.c
_cs = CHANNEL_SETTINGS.c


def add_charges(conn: Connection, charged: Sequence[tuple[Charge, int, float]]) -> None:
    """Add each answer's (tokens, cost) to every counter its charge names, in this transaction:
    one statement for all the counters (a row made or added to), a round trip on PostgreSQL
    where one per counter took six.

    Keys are taken in one order, so two transactions adding to the same rows on PostgreSQL
    wait for each other instead of deadlocking.
    """
    sums: dict[tuple[CounterKey, date], list[Any]] = {}
    for charge, tokens, cost in charged:
        for key in charge.keys:
            row = sums.setdefault((key, charge.day), [0, 0.0, 0])
            row[0] += tokens
            row[1] += cost
            row[2] += 1
    if not sums:
        return
    rows = [
        {
            "scope": key.scope,
            "subject": key.subject,
            "tag": key.tag,
            "day": day,
            "tokens": tokens,
            "cost_usd": cost,
            "answers": answers,
        }
        for (key, day), (tokens, cost, answers) in sorted(sums.items())
    ]
    upsert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(USAGE_COUNTS)
    conn.execute(
        upsert.values(rows).on_conflict_do_update(
            index_elements=[_u.scope, _u.subject, _u.tag, _u.day],
            set_={
                "tokens": _u.tokens + upsert.excluded.tokens,
                "cost_usd": _u.cost_usd + upsert.excluded.cost_usd,
                "answers": _u.answers + upsert.excluded.answers,
            },
        )
    )


_SPENT: dict[int, Select[Any]] = {}


def _spent_query(n: int) -> Select[Any]:
    """Rows of `n` counters from a day on: one primary-key range per counter, OR-ed."""
    found = _SPENT.get(n)
    if found is None:
        query: Select[Any] = select(
            _u.scope, _u.subject, _u.tag, _u.day, _u.tokens, _u.cost_usd, _u.answers
        )
        found = _SPENT[n] = query.where(
            or_(
                *(
                    and_(
                        _u.scope == bindparam(f"s{i}"),
                        _u.subject == bindparam(f"x{i}"),
                        _u.tag == bindparam(f"t{i}"),
                        _u.day >= bindparam("since"),
                    )
                    for i in range(n)
                )
            )
        )
    return found


def spent(conn: Connection, keys: Sequence[CounterKey], since: date) -> list[DaySpend]:
    if not keys:
        return []
    params: dict[str, Any] = {"since": since}
    for i, key in enumerate(keys):
        params.update({f"s{i}": key.scope, f"x{i}": key.subject, f"t{i}": key.tag})
    return [
        DaySpend(
            key=CounterKey(r[0], r[1], r[2]),
            day=r[3],
            tokens=int(r[4]),
            cost_usd=float(r[5]),
            answers=int(r[6]),
        )
        for r in conn.execute(_spent_query(len(keys)), params).all()
    ]


# -- run-time channel settings (the console) ----------------------------------------------------


def limits_to_json(limits: Sequence[Limit]) -> str:
    out = []
    for limit in limits:
        one: dict[str, Any] = {"scope": limit.scope, "period": limit.period}
        if limit.tokens is not None:
            one["tokens"] = limit.tokens
        if limit.cost_usd is not None:
            one["cost_usd"] = limit.cost_usd
        out.append(one)
    return json.dumps(out)


def limits_from_json(text: str) -> tuple[Limit, ...]:
    found = []
    for one in json.loads(text):
        found.append(
            Limit(
                scope=one["scope"],
                period=one["period"],
                tokens=one.get("tokens"),
                cost_usd=one.get("cost_usd"),
            )
        )
    return tuple(found)


def channel_settings(conn: Connection) -> list[ChannelSettings]:
    found = []
    for r in conn.execute(select(CHANNEL_SETTINGS)).all():
        limits = None
        if r.limits is not None:
            try:
                limits = limits_from_json(r.limits)
            except (ValueError, KeyError, TypeError):
                log.warning("channel_settings: unreadable limits for %s, ignored", r.channel)
        found.append(
            ChannelSettings(
                channel=r.channel,
                persona=r.persona,
                system_prompt=r.system_prompt,
                limits=limits,
                updated_at=utc(r.updated_at),
            )
        )
    return found


def save_channel_settings(conn: Connection, settings: ChannelSettings) -> None:
    where = _cs.channel == settings.channel
    if settings.persona is None and settings.system_prompt is None and settings.limits is None:
        conn.execute(delete(CHANNEL_SETTINGS).where(where))
        return
    values = {
        "persona": settings.persona,
        "system_prompt": settings.system_prompt,
        "limits": None if settings.limits is None else limits_to_json(settings.limits),
        "updated_at": datetime.now(UTC),
    }
    if conn.execute(update(CHANNEL_SETTINGS).where(where).values(**values)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(CHANNEL_SETTINGS).values(channel=settings.channel, **values))
    except IntegrityError:  # saved by another process at the same moment
        conn.execute(update(CHANNEL_SETTINGS).where(where).values(**values))


def record_failure(conn: Connection, failure: FailedTurn) -> None:
    conn.execute(
        insert(FAILURES).values(
            channel=failure.channel,
            platform=failure.platform,
            kind=failure.kind,
            tag=failure.tag,
            created_at=failure.created_at.astimezone(UTC),
        )
    )
