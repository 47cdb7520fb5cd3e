"""Schema migrations (Alembic, scripts in memory/migrations/), run at start and by `chatbot db upgrade`.

The service upgrades the database to the newest revision when it starts: a deployment is one
command, and a database the code cannot use never serves traffic. A database made by the first
release (create_all, no `alembic_version` table) is adopted: stamped as the baseline, whose schema
it has, then upgraded. Several processes starting together on PostgreSQL take an advisory lock,
so only one of them migrates.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

BASELINE = "0001_baseline"
_LOCK_ID = 0x63686174  # "chat": any constant shared by all our processes


class SchemaError(RuntimeError):
    """The database's schema is newer than this code, or otherwise not one we know."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("memory") / "migrations"))
    return cfg


def head() -> str:
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None
    return found


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> tuple[str | None, str]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    before = _current(conn)
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    if before is not None and before not in known:
        raise SchemaError(
            f"the database is at schema revision {before!r}, which this version of chatbot "
            "does not know (it was migrated by a newer release): upgrade chatbot"
        )
    if before is None and inspect(conn).has_table("messages"):
        command.stamp(cfg, BASELINE)  # made by the first release's create_all
    command.upgrade(cfg, "head")
    return before, _current(conn) or ""


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the database to the newest revision; returns (revision before, revision after)."""
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
