"""`POST /slack/events` refuses what Slack never sends: huge bodies, junk stamps, odd shapes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from adapters.slack.app import MAX_BODY
from adapters.slack.body import BoundedBody
from testing.servers import ServerProcess
from testing.stubs.model_server import ModelServer
from testing.stubs.slack_api import BOT_USER, SlackAPI
from tests.helpers import RunningApp
from tests.slack_support import SECRET, Events, envelope, message, signed_headers

MiB = 1024 * 1024
HUGE = 200 * MiB


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def huge_body() -> AsyncIterator[bytes]:
    """200 MiB of JSON-looking bytes, produced as sent: the test itself holds 1 MiB."""
    chunk = b"{" + b" " * (MiB - 1)
    for _ in range(HUGE // MiB):
        yield chunk


async def post_huge(http: httpx.AsyncClient, *, declared: bool) -> int:
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(HUGE)  # httpx then sends it as is, not chunked
    response = await http.post("/slack/events", content=huge_body(), headers=headers)
    return response.status_code


async def status_before_body(port: int) -> bytes:
    """The status line the server sends for a 200 MiB post of which we sent only the head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /slack/events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % HUGE
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def test_huge_unsigned_posts_are_refused_before_they_are_read(
    tmp_path: Path, model: ModelServer, slack: SlackAPI
) -> None:
    server = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}",
            "OPENAI_API_KEY": "sk-test-not-a-secret",
            "OPENAI_BASE_URL": model.url,
            "SLACK_BOT_TOKEN": "xoxb-test-not-a-secret",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
        },
        tmp_path / "server.log",
    )
    try:
        await server.ready()
        pid = server.proc.pid
        async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
            # Warm the route, so what follows measures bodies, not first-request imports.
            small = json.dumps(envelope(message("warm-up"))).encode()
            warm = await http.post("/slack/events", content=small, headers=signed_headers(small))
            assert warm.status_code == 200
            before, peak_before = rss_kib(pid), rss_kib(pid, "VmHWM")

            results = [
                await post_huge(http, declared=True),
                await post_huge(http, declared=False),
                await post_huge(http, declared=False),
            ]
            after, peak_after = rss_kib(pid), rss_kib(pid, "VmHWM")
            print(f"RSS {before // 1024} MB -> {after // 1024} MB, peak {peak_after // 1024} MB")
            assert results == [413, 413, 413]
            # With a Content-Length the answer comes before a byte of the body is sent.
            assert (await status_before_body(server.port)).startswith(b"HTTP/1.1 413 ")
            assert after - before < 100 * 1024, (before, after)
            assert peak_after - peak_before < 100 * 1024, (peak_before, peak_after)

            # The server is still there for Slack: a signed event is acked and answered.
            ask = json.dumps(envelope(message(f"<@{BOT_USER}> still here?"))).encode()
            response = await http.post("/slack/events", content=ask, headers=signed_headers(ask))
            assert response.status_code == 200
            await slack.wait_for(lambda: slack.of("chat.stopStream"), timeout=15)
        assert "Traceback" not in server.log()
    finally:
        await server.stop()


async def test_a_slow_body_holds_its_reader_only_until_the_time_bound(
    events: Events, slack: SlackAPI, model: ModelServer, slack_app: RunningApp
) -> None:
    slack_app.app.state.adapters["slack"].bodies = BoundedBody(MAX_BODY, readers=1, timeout=1.0)
    stalled = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"type": "event_callback", '
        await stalled.wait()  # the rest never comes while the test watches

    loop = asyncio.get_running_loop()
    slow = asyncio.create_task(
        events.http.post("/slack/events", content=slow_body(), headers={"Content-Type": "x"})
    )
    await asyncio.sleep(0.3)  # the slow post now holds the one reader
    started = loop.time()
    queued = await events.send(message(f"<@{BOT_USER}> behind the slow one"))
    waited = loop.time() - started
    stalled.set()  # httpx reads its answer only once its body is sent
    assert (await slow).status_code == 408
    # The signed event waited for the reader until the slow one was refused, then went through.
    assert queued.status_code == 200 and waited >= 0.5, waited
    await slack.wait_for(lambda: slack.of("chat.stopStream"))


class Tracebacks(logging.Handler):
    """Every log record that carries an exception, from bolt, the app or uvicorn."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    # uvicorn's own loggers do not propagate to the root: listen on both.
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def stamped(body: bytes, stamp: bytes, signature: bytes | None = None) -> dict[bytes, bytes]:
    """Headers with this stamp, signed with the right secret over it (only the stamp is off)."""
    if signature is None:
        text = stamp.decode("latin-1")
        signed = SignatureVerifier(SECRET).generate_signature(timestamp=text, body=body)
        assert signed is not None
        signature = signed.encode()
    return {
        b"Content-Type": b"application/json",
        b"X-Slack-Request-Timestamp": stamp,
        b"X-Slack-Signature": signature,
    }


async def test_junk_stamps_and_signatures_get_401_not_a_traceback(
    events: Events, slack: SlackAPI, model: ModelServer, tracebacks: Tracebacks
) -> None:
    body = json.dumps(envelope(message(f"<@{BOT_USER}> junk stamp"))).encode()
    now = str(int(time.time())).encode()
    cases = [stamped(body, s) for s in (b"nan", b"inf", b"-inf", b"1e3", b"1.5", b"0x10")]
    cases += [stamped(body, s) for s in (b"abc", b"", b"\xb2", b"1_700_000_000")]
    cases.append(stamped(body, now, signature=b"v0=\xff\xfe"))  # hmac refuses non-ASCII
    for headers in cases:
        response = await events.http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 401, headers
    await slack.wait_quiet(0.3)
    assert tracebacks.seen == []
    assert model.chat_requests() == [] and slack.calls == []


def with_event(event: Any) -> dict[str, Any]:
    payload = envelope(message(f"<@{BOT_USER}> odd shape"))
    payload["event"] = event
    return payload


async def test_signed_bodies_bolt_cannot_read_get_400_not_a_traceback(
    events: Events, slack: SlackAPI, model: ModelServer, tracebacks: Tracebacks
) -> None:
    ok = message(f"<@{BOT_USER}> odd shape")
    odd = [
        with_event("a string"),
        with_event([1, 2]),
        with_event(5),
        with_event({**ok, "type": 5}),
        with_event({**ok, "type": ["message"]}),
        with_event({**ok, "type": None}),
        with_event({**ok, "channel": 5}),
        with_event({**ok, "user": True}),
        with_event({"type": "reaction_added", "item": {"channel": 7}}),
        {**envelope(ok), "type": 5},
        {**envelope(ok), "type": ["event_callback"]},
        {**envelope(ok), "authorizations": "s"},
        {**envelope(ok), "authorizations": [1]},
        {**envelope(ok), "team_id": "T0TEAM", "team": 3},
    ]
    for payload in odd:
        response = await events.send_body(payload)
        assert response.status_code == 400, payload
        assert "malformed body" in response.text
    # Shapes Slack really sends still pass: ids as objects, null authorizations.
    created = {"type": "channel_created", "channel": {"id": "C0NEW", "name": "new"}}
    changed = {"type": "user_change", "user": {"id": "U0ALICE", "name": "alice"}}
    assert (await events.send(created)).status_code == 200
    assert (await events.send(changed)).status_code == 200
    assert (await events.send_body({**envelope(ok), "authorizations": None})).status_code == 200
    await slack.wait_for(lambda: slack.of("chat.stopStream"))
    assert len(model.chat_requests()) == 1
    assert tracebacks.seen == []
