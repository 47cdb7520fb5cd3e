"""The Slack adapter's stores on the tables our migrations make, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation

from adapters.slack.installations import SlackStores
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database


def installation(team: str, token: str, *, refresh: str | None = None) -> Installation:
    return Installation(
        app_id="A0APP",
        team_id=team,
        team_name=team.lower(),
        bot_token=token,
        bot_id="B0BOT",
        bot_user_id="U0BOT",
        bot_scopes="chat:write,commands",
        bot_refresh_token=refresh,
        bot_token_expires_in=3600 if refresh else None,
        user_id="U0ALICE",
        installed_at=time.time(),
    )


@pytest.mark.parametrize("kind", ENGINES)
async def test_installations_states_and_contexts_on_each_engine(kind: str, tmp_path: Path) -> None:
    async with fresh_database(kind, tmp_path) as url:
        store = SQLStore.from_url(url)
        await store.create_schema()  # the migrations make the tables; nothing else does
        stores = SlackStores(url, "1111.2222")
        installs, states, contexts = stores.installations, stores.states, stores.contexts
        assert installs is not None and states is not None
        try:
            await installs.async_save(installation("T1", "xoxb-1", refresh="xoxe-1"))
            await installs.async_save(installation("T2", "xoxb-2"))
            found = await installs.async_find_installation(enterprise_id=None, team_id="T1")
            assert found is not None and found.bot_token == "xoxb-1"
            assert found.bot_refresh_token == "xoxe-1" and found.bot_token_expires_at
            bot = await installs.async_find_bot(enterprise_id=None, team_id="T2")
            assert bot is not None and bot.bot_token == "xoxb-2"
            await installs.async_delete_all(enterprise_id=None, team_id="T1")
            assert await installs.async_find_installation(enterprise_id=None, team_id="T1") is None
            assert await installs.async_find_bot(enterprise_id=None, team_id="T2") is not None

            # A state works once, even when two processes consume it at the same moment.
            state = await states.async_issue()
            other = SlackStores(url, "1111.2222")
            assert other.states is not None
            results = await asyncio.gather(
                states.async_consume(state), other.states.async_consume(state)
            )
            assert sorted(results) == [False, True]
            assert not await states.async_consume("never-issued")
            await other.close()

            assert await contexts.viewing("T1", "U0ALICE") is None
            await contexts.remember("T1", "U0ALICE", "C1")
            await contexts.remember("T1", "U0ALICE", "C2")  # the newest wins
            await contexts.remember("T1", "U0BOB", None)
            assert await contexts.viewing("T1", "U0ALICE") == "C2"
            assert await contexts.viewing("T1", "U0BOB") is None
        finally:
            await stores.close()
            await store.close()


async def test_an_expired_state_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'states.db'}"
    store = SQLStore.from_url(url)
    await store.create_schema()
    stores = SlackStores(url, "1111.2222")
    assert stores.states is not None
    stores.states.expiration_seconds = -1
    stale = await stores.states.async_issue()
    assert not await stores.states.async_consume(stale)
    await stores.close()
    await store.close()


async def test_a_deleted_database_file_is_not_recreated_by_a_lookup(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.create_schema()
    await store.close()
    path.unlink()
    stores = SlackStores(f"sqlite+aiosqlite:///{path}", "1111.2222")
    assert stores.installations is not None
    with pytest.raises(Exception, match="unable to open database file"):
        await stores.installations.async_find_bot(enterprise_id=None, team_id="T1")
    assert await stores.contexts.viewing("T1", "U1") is None  # logged, not raised
    assert not path.exists()
    await stores.close()
