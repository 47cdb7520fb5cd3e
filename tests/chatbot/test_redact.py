"""redact_url: credentials in URLs masked, the rest exactly as written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatbot.redact import redact_url
from tests.helpers import settings_for, start_app


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@host/v1", "http://user:***@host/v1"),
        (
            "postgresql+asyncpg://chat:s3cret@db.internal:5432/chatbot",
            "postgresql+asyncpg://chat:***@db.internal:5432/chatbot",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0?password=hunter2&db=1", "redis://cache:6379/0?password=***&db=1"),
        (
            "postgresql://db/chat?user=me&PassWord=x&sslmode=require",
            "postgresql://db/chat?user=me&PassWord=***&sslmode=require",
        ),
        (
            "https://gw.example/v1?api_key=k1&X-Amz-Signature=ab&sessionId=s&authToken=t&pwd=p",
            "https://gw.example/v1?api_key=***&X-Amz-Signature=***&sessionId=***&authToken=***&pwd=***",
        ),
        (
            "https://h/?client_secret=a&credentials=b&sig=c",
            "https://h/?client_secret=***&credentials=***&sig=***",
        ),
        ("https://h/?api%5Fkey=a+b", "https://h/?api%5Fkey=***"),  # names compared decoded
        ("https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=***&state=1"),
        # A raw `@` in the password: the userinfo ends at the last `@` of the authority.
        ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),
        # SQLAlchemy reads a password up to the first `@`, slashes included.
        ("postgresql://u:pa/ss?x#y@host/db", "postgresql://u:***@host/db"),
        ("user:pw@host:5432", "***@host:5432"),  # no `//`: all before the `@` is hidden
        # Nothing secret: unchanged, SQLAlchemy's triple slash included.
        ("sqlite+aiosqlite:///./chatbot.db", "sqlite+aiosqlite:///./chatbot.db"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("https://slack.com/api/", "https://slack.com/api/"),
        ("http://user@host/v1", "http://user@host/v1"),  # a user alone is not a password
        ("https://h/?token=&page=2", "https://h/?token=&page=2"),  # nothing to hide
        ("http://[::1]:8080/v1?key=k", "http://[::1]:8080/v1?key=***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.filterwarnings("ignore:Query string argument:sqlalchemy.exc.SAWarning")
async def test_the_start_log_masks_the_database_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite ignores the parameter, so a real start shows what PostgreSQL's would log.
    url = f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}?password=db-secret-123"
    with caplog.at_level(logging.INFO, logger="chatbot.app"):
        running = await start_app(settings_for(url, None))
        await running.stop()
    ready = [r.getMessage() for r in caplog.records if "memory ready" in r.getMessage()]
    assert ready == [f"memory ready at sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}?password=***"]
    assert "db-secret-123" not in caplog.text
