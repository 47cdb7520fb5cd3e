"""Where in Slack an answer goes: a channel and the thread of the message that asked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThreadPlace:
    channel: str  # the Slack channel id
    thread_ts: str  # the message the answer belongs under
    team: str | None = None  # recipient team and user: Slack wants them for streams in channels
    user: str | None = None
