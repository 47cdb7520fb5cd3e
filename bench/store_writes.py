"""What SQLite group commit buys: concurrent messages stored, with and without it, in one run.

`python -m bench.store_writes`: 200 writers add 10 messages each at once (a busy room's burst),
through the real SQLStore on a fresh SQLite file, three rounds each way; prints messages stored
per second and the ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.types import NewMessage
from memory.store import SQLStore

WRITERS = 200
EACH = 10


async def burst(group_commit: bool, folder: Path, round_: int) -> float:
    store = SQLStore.from_url(
        f"sqlite+aiosqlite:///{folder / f'w-{group_commit}-{round_}.db'}", group_commit=group_commit
    )
    await store.create_schema()

    async def writer(i: int) -> None:
        for n in range(EACH):
            await store.add(
                NewMessage(
                    channel="web:lobby",
                    platform="web",
                    role="user",
                    author_id=f"web:u{i}",
                    author_name=f"u{i}",
                    text=f"message {n} from {i}",
                    created_at=datetime.now(UTC),
                )
            )

    start = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    seconds = time.perf_counter() - start
    await store.close()
    return WRITERS * EACH / seconds


async def measure(rounds: int = 3) -> tuple[float, float]:
    """Median messages per second (group commit, one transaction per message)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        on = [await burst(True, folder, r) for r in range(rounds)]
        off = [await burst(False, folder, r) for r in range(rounds)]
    return statistics.median(on), statistics.median(off)


def main() -> None:
    on, off = asyncio.run(measure())
    print(f"{WRITERS} writers x {EACH} messages, SQLite")
    print(f"  group commit:            {on:8.0f} msg/s")
    print(f"  one transaction each:    {off:8.0f} msg/s")
    print(f"  ratio:                   {on / off:8.2f}x")


if __name__ == "__main__":
    main()
