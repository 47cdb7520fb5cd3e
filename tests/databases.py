"""Test databases: a fresh SQLite file, or a fresh database on the PostgreSQL server that
scripts/ci/start-postgres.sh started (its URL in CHATBOT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url


def postgres_url() -> str:
    """The server's URL. Under CI a missing server is a failure, never a skip."""
    url = os.environ.get("CHATBOT_TEST_POSTGRES_URL", "")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but CHATBOT_TEST_POSTGRES_URL is not: run ./scripts/test")
        pytest.skip("no PostgreSQL server: ./scripts/test starts one")
    return url


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLAlchemy URL for an empty database of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    base = postgres_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_dsn(base))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


ENGINES = ["sqlite", "postgresql"]
