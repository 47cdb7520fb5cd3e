"""Alembic: a fresh database, one made by the first release (create_all), and one from the future."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlmodel import SQLModel

from bot.types import NewMessage
from memory.migrate import BASELINE, SchemaError, alembic_config, current, head, upgrade
from memory.models import MessageRow
from memory.search_index import AUTOMERGE, INDEX_TABLES, TABLE, TERMS
from memory.search_terms import query_terms
from memory.store import SQLStore, make_engine
from tests.databases import ENGINES, fresh_database


def _not_the_search_index(obj: object, name: str | None, kind: str, *_: object) -> bool:
    """The full-text index is each engine's own (memory/search_index.py), not in the models."""
    return not (
        kind in ("table", "index")
        and name is not None
        and (name in INDEX_TABLES or name.startswith(("ix_message_search", "ix_message_terms")))
    )


def _diff(conn: object) -> list[object]:
    context = MigrationContext.configure(
        conn,  # type: ignore[arg-type]
        opts={"include_object": _not_the_search_index},
    )
    return compare_metadata(context, SQLModel.metadata)


@pytest.mark.parametrize("kind", ENGINES)
async def test_fresh_database_gets_the_models_schema(kind: str, tmp_path: Path) -> None:
    async with fresh_database(kind, tmp_path) as url:
        store = SQLStore.from_url(url)
        await store.create_schema()
        await store.create_schema()  # at every start: idempotent
        assert await current(store.engine) == head()
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []  # the migrations build what the models say
        assert await automerge(store) == (AUTOMERGE if kind == "sqlite" else None)
        await store.close()


async def automerge(store: SQLStore) -> int | None:
    """FTS5's merge setting, kept in the index's own config table (SQLite only)."""
    if store.engine.dialect.name != "sqlite":
        return None
    async with store.engine.connect() as conn:
        found = await conn.execute(text(f"SELECT v FROM {TABLE}_config WHERE k = 'automerge'"))
        return int(found.scalar_one())


def _first_release_schema(conn: object) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, BASELINE)
    conn.execute(text("DROP TABLE alembic_version"))  # type: ignore[attr-defined]


def _db_upgrade(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATBOT_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ENGINES)
async def test_database_from_the_first_release_upgrades_without_losing_a_row(
    kind: str, tmp_path: Path
) -> None:
    async with fresh_database(kind, tmp_path) as url:
        # The first release created its tables with create_all and had no alembic_version:
        # its schema is exactly the baseline revision's.
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_first_release_schema)
            for i in range(120):
                said = "@chatbot help" if i == 3 else f"message {i}"
                await conn.execute(
                    text(
                        "INSERT INTO messages (channel, platform, role, author_id, author_name,"
                        " text, created_at, flagged) VALUES (:c, 'web', 'user', 'web:a', 'a',"
                        " :t, :at, false)"
                    ),
                    {"c": f"web:{i % 3}", "t": said, "at": datetime(2026, 1, 1, tzinfo=UTC)},
                )
            await conn.execute(
                text(
                    "INSERT INTO channels (channel, response_id, response_message_id,"
                    " reset_after_id) VALUES ('web:0', 'resp_x', 7, 0)"
                )
            )
        await engine.dispose()

        done = await asyncio.to_thread(_db_upgrade, url)
        assert done.returncode == 0, done.stderr
        assert f"-> {head()}" in done.stdout

        store = SQLStore.from_url(url)
        assert await current(store.engine) == head()
        async with store.engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(MessageRow))).scalar()
        assert count == 120
        assert [m.text for m in await store.recent("web:0", 2)] == ["message 114", "message 117"]
        assert (await store.state("web:0")).response_id == "resp_x"
        # Rows the first release stored read as they were; an old command is marked as one.
        old = await store.recent("web:0", 200)
        assert [m.command for m in old if m.text == "@chatbot help"] == ["help"]
        assert {m.author_is_bot for m in old} == {False}
        assert await automerge(store) == (AUTOMERGE if kind == "sqlite" else None)
        await store.close()


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    await store.create_schema()
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaError, match="newer release"):
        await upgrade(store.engine)
    await store.close()


async def test_an_index_made_before_0008_merges_less_often_after_it(tmp_path: Path) -> None:
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    await store.create_schema()
    async with store.engine.begin() as conn:  # as 0003 left it: FTS5's default, at 0007
        await conn.execute(text(f"INSERT INTO {TABLE}({TABLE}, rank) VALUES ('automerge', 4)"))
        await conn.execute(text("UPDATE alembic_version SET version_num = '0007_usage_limits'"))
    assert await automerge(store) == 4
    assert await upgrade(store.engine) == ("0007_usage_limits", head())
    assert await automerge(store) == AUTOMERGE
    await store.close()


def _to(revision: str) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)

    return run


async def _tables(store: SQLStore) -> set[str]:
    async with store.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'message_%'")
        )
        return {r[0] for r in found}


async def test_postgres_search_index_moves_to_term_pairs_and_back(tmp_path: Path) -> None:
    """0009 replaces 0003's tsvector table with (term, message id) pairs, built from the
    messages; its downgrade gives the tsvector table back with the same terms."""
    async with fresh_database("postgresql", tmp_path) as url:
        store = SQLStore.from_url(url)
        await store.create_schema()
        said = []
        for text_ in ("the deadline moved to Friday", "내 이름은 소연이야", "lunch?"):
            stored = await store.add(
                NewMessage("web:a", "web", "user", "web:x", "x", text_, datetime.now(UTC))
            )
            assert stored is not None
            said.append(stored)
        assert await _tables(store) == {"messages", TERMS}

        async with store.engine.begin() as conn:
            await conn.run_sync(_to("0008_search_merge"))
        assert await _tables(store) == {"messages", TABLE}  # 0003's tsvector, rebuilt
        async with store.engine.connect() as conn:
            found = await conn.execute(
                text(f"SELECT message_id FROM {TABLE} WHERE terms @@ CAST(:q AS tsquery)"),
                {"q": f"'{query_terms('web:a', '소연')[0]}'"},
            )
            assert [r[0] for r in found] == [said[1].id]

        async with store.engine.begin() as conn:
            await conn.run_sync(_to("head"))
        assert await _tables(store) == {"messages", TERMS}
        assert await current(store.engine) == head()
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        for question, meant in (("소연", said[1]), ("friday", said[0])):
            recalled = await store.recall("web:a", question, after_id=0, before_id=2**62, limit=5)
            assert [m.id for m in recalled] == [meant.id]
        await store.close()
