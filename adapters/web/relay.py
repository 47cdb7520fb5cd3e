"""Room fan-out across processes over Redis pub/sub (`CHATBOT_REDIS_URL`).

Each process delivers a room's frames to its own connections at once (adapters/web/hub.py) and
publishes them, tagged with its origin id, on `chatbot:web:<room>`. One pattern subscription
brings the other processes' frames back; frames with our own origin are skipped, so every client
gets every frame exactly once. Answers are produced only by the process that received the
message: the frames travel, the turns do not.

Redis down: local delivery and storage go on; frames for other processes are dropped with a
warning (their clients catch up with `GET /messages?after=ID`), and both the publisher and the
subscriber reconnect with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.web.hub import Hub

log = logging.getLogger(__name__)

PREFIX = "chatbot:web:"
OUTBOX_SIZE = 10_000
MAX_BACKOFF = 2.0


class RedisRelay:
    def __init__(self, url: str, hub: Hub, *, prefix: str = PREFIX):
        self.url = url
        self.hub = hub
        self.prefix = prefix
        self.origin = uuid.uuid4().hex
        self.outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTBOX_SIZE)
        self.subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0

    # -- outbound ---------------------------------------------------------------------------

    def publish(self, room: str, data: str, streaming_only: bool, delta: bool = False) -> None:
        envelope = json.dumps({"o": self.origin, "s": streaming_only, "d": data, "x": delta})
        try:
            self.outbox.put_nowait((self.prefix + room, envelope))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.warning("redis relay is behind: dropped %d frames", self._dropped)

    async def _publisher(self) -> None:
        backoff = 0.1
        while True:
            channel, envelope = await self.outbox.get()
            client = Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
            try:
                while True:
                    # Send what has piled up in one round trip.
                    batch = [(channel, envelope)]
                    while not self.outbox.empty() and len(batch) < 500:
                        batch.append(self.outbox.get_nowait())
                    async with client.pipeline(transaction=False) as pipe:
                        for ch, env in batch:
                            pipe.publish(ch, env)
                        await pipe.execute()
                    backoff = 0.1
                    channel, envelope = await self.outbox.get()
            except (RedisError, OSError) as exc:
                log.warning(
                    "redis publish failed (%s): other processes miss these frames",
                    exc.__class__.__name__,
                )
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                while not self.outbox.empty():  # stale by now: clients catch up from the DB
                    self.outbox.get_nowait()
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    # -- inbound ----------------------------------------------------------------------------

    async def _subscriber(self) -> None:
        backoff = 0.1
        while True:
            client = Redis.from_url(self.url, socket_connect_timeout=2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                self.subscribed.set()
                log.info("redis relay subscribed (origin %s)", self.origin[:8])
                backoff = 0.1
                while True:
                    msg = await pubsub.get_message(timeout=5.0)
                    if msg is not None and msg["type"] == "pmessage":
                        self._deliver(msg["channel"], msg["data"])
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning(
                    "redis subscription lost (%s); reconnecting in %.1fs",
                    exc.__class__.__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _deliver(self, channel: bytes, raw: bytes) -> None:
        try:
            envelope = json.loads(raw)
            if envelope["o"] == self.origin:
                return  # delivered locally when it was broadcast
            room = channel.decode()[len(self.prefix) :]
            if envelope.get("x"):  # a delta: coalesced per connection like local ones
                self.hub.deliver_delta(room, json.loads(envelope["d"]))
            else:
                self.hub.deliver(room, envelope["d"], streaming_only=bool(envelope["s"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            log.warning("ignoring a malformed frame on %r", channel)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, wait: float = 5.0) -> None:
        self.hub.relay = self
        self._tasks = [
            asyncio.create_task(self._subscriber()),
            asyncio.create_task(self._publisher()),
        ]
        # Serve even if Redis is down at start: local rooms work, the subscriber keeps trying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait)

    async def stop(self) -> None:
        self.hub.relay = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
