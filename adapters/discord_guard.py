"""The bot-loop guard: answer other bots at most `max_turns` times in a row per channel.

It lives in the adapter, not in memory, because only the gateway sees every post: without the
Message Content intent, plain human chat is never stored, yet its MESSAGE_CREATE still arrives
(content blank) and proves a human spoke. Memory also does not record whether a user turn came
from a bot. Counters live in this process; a restart resets them, which at worst allows one more
short run.
"""

from __future__ import annotations


class BotLoopGuard:
    def __init__(self, max_turns: int):
        self.max_turns = max_turns
        self._runs: dict[str, int] = {}  # only channels inside a bot run have an entry

    def human_spoke(self, channel: str) -> None:
        self._runs.pop(channel, None)

    def allow_bot(self, channel: str) -> bool:
        """Counts one answer to a bot; False once the channel's run is at the limit."""
        done = self._runs.get(channel, 0)
        if done >= self.max_turns:
            return False
        self._runs[channel] = done + 1
        return True
