"""The Slack tables our migrations create are the ones slack-sdk's SQLAlchemy stores read and write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, Table
from sqlmodel import SQLModel

import memory.models  # noqa: F401  (registers every table)


def shape(table: Table) -> dict[str, Any]:
    columns = {
        c.name: (type(c.type).__name__, getattr(c.type, "length", None), c.nullable, c.primary_key)
        for c in table.columns
    }
    indexes = {i.name: tuple(c.name for c in i.columns) for i in table.indexes}
    return {"columns": columns, "indexes": indexes}


def test_installation_bot_and_state_tables_match_slack_sdks() -> None:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    theirs = MetaData()
    expected = [
        SQLAlchemyInstallationStore.build_installations_table(theirs, "slack_installations"),
        SQLAlchemyInstallationStore.build_bots_table(theirs, "slack_bots"),
        SQLAlchemyOAuthStateStore.build_oauth_states_table(theirs, "slack_oauth_states"),
    ]
    for table in expected:
        assert shape(SQLModel.metadata.tables[table.name]) == shape(table), table.name


def test_the_agent_context_table_is_the_one_the_adapter_uses() -> None:
    from adapters.slack.installations import agent_contexts_table

    ours = SQLModel.metadata.tables["slack_agent_contexts"]
    assert shape(ours) == shape(agent_contexts_table(MetaData()))
