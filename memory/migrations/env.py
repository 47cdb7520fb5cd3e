"""Alembic environment. memory/migrate.py hands us an open connection; the `alembic` CLI does not,
so then we connect to CHATBOT_DATABASE_URL (or the URL in alembic's config) ourselves."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import memory.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online_from_url() -> None:
    from memory.store import DEFAULT_DATABASE_URL, make_engine

    url = os.environ.get("CHATBOT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url or DEFAULT_DATABASE_URL)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    _offline()
elif (conn := config.attributes.get("connection")) is not None:
    _run(conn)
else:
    asyncio.run(_online_from_url())
