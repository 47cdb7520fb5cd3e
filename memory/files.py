"""Where attachment bytes live: small ones in their database row, the rest in a folder on disk.

One store for every platform. A file of at most `inline_max` bytes (64 KiB by default: text
files, small screenshots) is kept in the `attachments` row itself, so it is backed up with the
database and shared by every process that shares it; a bigger one is written to
`<folder>/<first two characters of its id>/<id>` and its row says `on_disk`. The folder
defaults to one beside the SQLite file (`chatbot.db` → `chatbot-files/`), or `./chatbot-files`
for PostgreSQL; `CHATBOT_FILES_DIR` names another (several machines: a shared mount, or set
`CHATBOT_FILES_INLINE_MAX` high enough to keep every file in the database).

Files are written before their row is committed and removed after theirs is deleted, so a
crash leaves at worst an unreferenced file on disk, never a row without its bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

INLINE_MAX = 64 * 1024
_ID = re.compile(r"^[0-9a-f]{32}$")


def default_files_dir(database_url: str) -> Path:
    """Beside the SQLite file, or `./chatbot-files` (PostgreSQL, an in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        return db.with_name(f"{db.stem}-files")
    return Path("chatbot-files")


class FileFolder:
    """The on-disk half: one file per attachment id. Plain blocking calls (run in threads)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, attachment_id: str) -> Path:
        if not _ID.match(attachment_id):  # ids are ours; anything else never reaches the disk
            raise ValueError("not an attachment id")
        return self.root / attachment_id[:2] / attachment_id

    def write(self, attachment_id: str, data: bytes) -> None:
        final = self.path(attachment_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, final)  # never a half-written file under the id
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read(self, attachment_id: str) -> bytes | None:
        try:
            return self.path(attachment_id).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def remove(self, attachment_ids: Iterable[str]) -> None:
        for attachment_id in attachment_ids:
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.path(attachment_id).unlink()

    def count(self) -> int:
        """Files kept (tests: deleting memory deletes them)."""
        if not self.root.exists():
            return 0
        return sum(1 for p in self.root.glob("*/*") if p.is_file() and not p.name.startswith("."))
