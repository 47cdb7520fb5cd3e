"""Edit pacing under Discord's per-channel rate limit, counted at the loopback Discord.

Discord allows about 5 new messages and 5 edits per 5 seconds in a channel. Here the window is
scaled down to 0.5 s (the adapter's budget to 0.55 s: a little margin for the loopback's own
timing) so that 20 answers fit in seconds, and the loopback sends no rate-limit headers: discord.py
cannot wait ahead of time, so every call over the limit would show as a 429.
"""

from __future__ import annotations

import time

from adapters.discord.pacing import ChannelPacer
from testing.stubs.discord_server import Call
from testing.stubs.model_server import ModelServer, Reply
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import BOT_ID, BOT_USER, CHANNEL_ID, message_payload

LIMIT, WINDOW = 5, 0.5
ANSWERS = 20


def most_in_a_window(calls: list[Call], window: float) -> int:
    times = sorted(c.at for c in calls)
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


async def test_twenty_answers_in_one_channel_stay_under_its_rate_limit(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    world.server.limit_channels(LIMIT, WINDOW, headers=False)
    world.bot.pacer = ChannelPacer(limit=LIMIT, window=WINDOW * 1.1)
    world.service.edit_interval = 0.02  # unpaced, every answer would edit 30 times a second
    texts = []
    for i in range(ANSWERS):
        pieces = [f"a{i}w{j} " for j in range(10)]
        texts.append("".join(pieces))
        model.then(Reply(texts[-1], chunks=pieces, chunk_delay=0.03))  # 0.3 s each
    questions = [
        message_payload(f"<@{BOT_ID}> question {i}", mentions=[BOT_USER]) for i in range(ANSWERS)
    ]
    started = time.monotonic()
    await world.post_many(questions)  # 20 people ask at once in one channel
    elapsed = time.monotonic() - started
    calls = [c for c in world.server.calls if c.path.startswith(f"/channels/{CHANNEL_ID}/messages")]
    posts = [c for c in calls if c.method == "POST"]
    edits = [c for c in calls if c.method == "PATCH"]
    assert [c for c in calls if c.status == 429] == []  # never over Discord's limit
    assert most_in_a_window(posts, WINDOW) <= LIMIT and most_in_a_window(edits, WINDOW) <= LIMIT
    # Every answer in full, in order; one message each (a placeholder edited, or posted whole).
    assert world.server.visible(CHANNEL_ID) == texts
    assert len(posts) == ANSWERS
    # Streaming still happened where the budget allowed it: some answers showed a placeholder
    # that was edited into the answer (the core writes one answer at a time per channel).
    assert len(edits) >= 5
    print(
        f"\n{ANSWERS} answers in {elapsed:.2f} s: {len(posts)} messages, {len(edits)} edits, "
        f"at most {most_in_a_window(posts + edits, WINDOW)} calls in any {WINDOW} s"
    )


def test_the_budget_keeps_room_for_what_is_never_skipped() -> None:
    now = [0.0]
    pacer = ChannelPacer(limit=5, window=5.0, reserve=2, clock=lambda: now[0])
    for _ in range(3):
        assert pacer.may_update(1)
        pacer.spent(1)
    assert not pacer.may_update(1)  # two of five left for final texts
    assert pacer.may_update(2)  # another channel has its own budget
    pacer.spent(1)  # a final text goes anyway
    now[0] = 5.01
    assert pacer.may_update(1)  # the window moved on
