"""Attachments in SQLStore on SQLite and PostgreSQL: small bytes in the row, big ones on disk,
uploads linked by their channel and author, and deleting memory deleting the files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.types import NewAttachment, NewMessage
from memory.files import default_files_dir
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    async with fresh_database(request.param, tmp_path) as url:
        s = SQLStore.from_url(url, files_dir=tmp_path / "files", inline_max=100)
        await s.create_schema()
        yield s
        await s.close()


def msg(channel: str, text: str, message_id: str | None = None) -> NewMessage:
    return NewMessage(
        channel=channel,
        platform="web",
        role="user",
        author_id="web:a",
        author_name="alice",
        text=text,
        created_at=AT,
        platform_message_id=message_id,
    )


def new(
    channel: str, name: str, data: bytes | None, author: str = "alice", at: datetime | None = None
) -> NewAttachment:
    return NewAttachment(
        channel=channel,
        name=name,
        kind="image" if data is not None else "other",
        media_type="image/png" if data is not None else "application/octet-stream",
        data=data,
        author_name=author,
        created_at=at or datetime.now(UTC),
        width=2 if data else None,
        height=1 if data else None,
    )


async def test_small_bytes_in_the_row_big_ones_on_disk(store: SQLStore) -> None:
    m = await store.add(msg("web:r", "two files"))
    assert m is not None
    small, big, named = await store.add_files(
        m.id,
        [
            new("web:r", "s.png", b"s" * 100),
            new("web:r", "b.png", b"b" * 101),
            new("web:r", "x.pdf", None),
        ],
    )
    assert store.folder.count() == 1  # only the one over inline_max
    assert await store.file_data(small.id) == b"s" * 100
    assert await store.file_data(big.id) == b"b" * 101
    assert await store.file_data(named.id) is None
    assert (big.size, big.width, big.height, big.message_id) == (101, 2, 1, m.id)
    found = await store.files_of([m.id, 999])
    assert [f.name for f in found[m.id]] == ["s.png", "b.png", "x.pdf"]
    assert 999 not in found
    again = await store.file(big.id)
    assert again == big and again.created_at.tzinfo is not None
    assert await store.file("0" * 32) is None


async def test_uploads_link_once_to_a_message_of_their_channel_and_author(store: SQLStore) -> None:
    (mine,) = await store.add_files(None, [new("web:r", "a.png", b"a")])
    (theirs,) = await store.add_files(None, [new("web:r", "b.png", b"b", author="bob")])
    (elsewhere,) = await store.add_files(None, [new("web:other", "c.png", b"c")])
    m = await store.add(msg("web:r", ""))
    assert m is not None
    linked = await store.link_uploads(
        "web:r", [elsewhere.id, theirs.id, mine.id, "f" * 32], "alice", m.id
    )
    assert [f.id for f in linked] == [mine.id]
    assert linked[0].message_id == m.id
    n = await store.add(msg("web:r", "again"))
    assert n is not None
    assert await store.link_uploads("web:r", [mine.id], "alice", n.id) == []  # sent already


async def test_forget_and_delete_remove_rows_and_bytes(store: SQLStore) -> None:
    a = await store.add(msg("web:r", "a", "p1"))
    b = await store.add(msg("web:r", "b", "p2"))
    other = await store.add(msg("web:s", "c", "p3"))
    assert a is not None and b is not None and other is not None
    (fa,) = await store.add_files(a.id, [new("web:r", "a.png", b"a" * 200)])
    (fb,) = await store.add_files(b.id, [new("web:r", "b.png", b"b" * 200)])
    (fo,) = await store.add_files(other.id, [new("web:s", "o.png", b"o" * 200)])
    (pending,) = await store.add_files(None, [new("web:r", "p.png", b"p" * 200)])
    assert store.folder.count() == 4
    assert await store.delete("web", ["p2"]) == 1
    assert await store.file(fb.id) is None and store.folder.count() == 3
    assert await store.forget("web:r", a.id) == 1
    assert await store.file(fa.id) is None and await store.file(pending.id) is None
    assert await store.file_data(fo.id) == b"o" * 200  # another channel keeps its own
    assert store.folder.count() == 1


async def test_uploads_never_sent_go_after_a_day(store: SQLStore) -> None:
    old = datetime.now(UTC) - timedelta(days=1, minutes=1)
    (stale,) = await store.add_files(None, [new("web:r", "old.png", b"o" * 200, at=old)])
    (other_room,) = await store.add_files(None, [new("web:s", "old.png", b"o" * 200, at=old)])
    (fresh,) = await store.add_files(None, [new("web:r", "new.png", b"n" * 200)])
    assert await store.file(stale.id) is None
    assert await store.file(other_room.id) is not None  # its room had no upload since
    assert await store.file(fresh.id) is not None
    assert store.folder.count() == 2


def test_the_files_folder_defaults_to_beside_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    assert default_files_dir(url) == tmp_path / "chat-files"
    assert default_files_dir("postgresql+asyncpg://u:p@h/db") == Path("chatbot-files")
