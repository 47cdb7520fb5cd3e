"""The Slack adapter's own state, in the app's database: installations, OAuth states, contexts.

A distributed app is installed per workspace (or Enterprise Grid org): bolt's OAuth flow stores
each installation, and every event is answered with the token of the installation it came from.
They are in the database, not a file, so that every process sees every installation; the
tables are created by our migrations (memory/slack_installations.py), and these stores are
slack-sdk's own async SQLAlchemy stores over them, with three changes:

- an installation that cannot be saved is bolt's "storage error" page, not a traceback;
- an OAuth state is consumed by one atomic DELETE, so a state replayed at the same moment to
  two processes is accepted once, and expired states are swept as new ones are issued;
- `AgentContexts` (ours) remembers which channel each person has in view beside the app's agent
  view, from Slack's `app_context_changed`, for whichever process gets their next message.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

STATE_SECONDS = 600  # an install link works for ten minutes


def make_engine(url: str) -> AsyncEngine:
    """A small pool of our own: installs are rare, lookups one short query per event."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            # Read-write only, as memory's store opens it: a deleted database file must not
            # come back empty because an event looked up its installation.
            parsed = parsed.set(database=f"file:{path}", query={"mode": "rw", "uri": "true"})
        # The store's writer may hold SQLite's lock for a moment: wait for it, do not fail.
        return create_async_engine(parsed, connect_args={"timeout": 30})
    return create_async_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=4)


def _naive_utc(when: float) -> datetime:
    # slack-sdk writes these tables' times as naive UTC.
    return datetime.fromtimestamp(when, UTC).replace(tzinfo=None)


class Installations(AsyncSQLAlchemyInstallationStore):
    async def async_save(self, installation: Installation) -> None:
        try:
            await super().async_save(installation)
        except SQLAlchemyError as exc:
            log.error("could not save a Slack installation: %s", exc.__class__.__name__)
            # BoltError: bolt answers with its failure page ("storage_error"), not a 500.
            raise BoltError("the installation could not be saved") from exc


class OAuthStates(AsyncSQLAlchemyOAuthStateStore):
    async def async_issue(self, *args: object, **kwargs: object) -> str:
        try:
            async with self.engine.begin() as conn:
                table = self.oauth_states
                await conn.execute(delete(table).where(table.c.expire_at < _naive_utc(time.time())))
        except SQLAlchemyError:
            log.warning("could not sweep expired Slack OAuth states")
        return await super().async_issue(*args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        """True once for a state we issued that has not expired; False for anything else."""
        table = self.oauth_states
        try:
            async with self.engine.begin() as conn:
                done = await conn.execute(
                    delete(table).where(
                        table.c.state == state, table.c.expire_at > _naive_utc(time.time())
                    )
                )
        except SQLAlchemyError as exc:
            log.warning("could not check a Slack OAuth state: %s", exc.__class__.__name__)
            return False
        return bool(done.rowcount)


def agent_contexts_table(metadata: MetaData) -> Table:
    """The same table as memory/slack_installations.py declares (a test compares them)."""
    return Table(
        "slack_agent_contexts",
        metadata,
        Column("team_id", String(32), primary_key=True),
        Column("user_id", String(32), primary_key=True),
        Column("channel_id", String(32)),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


class AgentContexts:
    """The channel each person last had in view beside the agent view, by (team, user)."""

    def __init__(self, engine: AsyncEngine | None):
        self.engine = engine
        self.table = agent_contexts_table(MetaData())
        self._local: dict[tuple[str, str], str | None] = {}  # without a database (unit tests)

    async def remember(self, team: str, user: str, channel: str | None) -> None:
        if self.engine is None:
            self._local[(team, user)] = channel
            return
        row = {
            "team_id": team,
            "user_id": user,
            "channel_id": channel,
            "updated_at": datetime.now(UTC),
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(self.table).values(row)
        upsert = upsert.on_conflict_do_update(
            index_elements=["team_id", "user_id"],
            set_={"channel_id": channel, "updated_at": row["updated_at"]},
        )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(upsert)
        except SQLAlchemyError as exc:
            log.warning("could not remember what %s is viewing: %s", user, exc.__class__.__name__)

    async def viewing(self, team: str, user: str) -> str | None:
        if self.engine is None:
            return self._local.get((team, user))
        table = self.table
        query = select(table.c.channel_id).where(table.c.team_id == team, table.c.user_id == user)
        try:
            async with self.engine.connect() as conn:
                return (await conn.execute(query)).scalar()
        except SQLAlchemyError as exc:
            log.warning("could not read what %s is viewing: %s", user, exc.__class__.__name__)
            return None


class SlackStores:
    """The engine and the stores on it, closed with the adapter."""

    def __init__(self, database_url: str, client_id: str | None):
        self.engine = make_engine(database_url) if database_url else None
        self.installations: Installations | None = None
        self.states: OAuthStates | None = None
        if self.engine is not None and client_id is not None:
            self.installations = Installations(client_id=client_id, engine=self.engine)
            self.states = OAuthStates(expiration_seconds=STATE_SECONDS, engine=self.engine)
        self.contexts = AgentContexts(self.engine)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
