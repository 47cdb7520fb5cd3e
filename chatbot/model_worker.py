"""A model worker process: `python -m chatbot.model_worker`, started by chatbot/model_workers.py.

It reads calls on stdin and answers on stdout (frames: chatbot/worker_wire.py), running each call
through the same provider classes the server would use in-process. Logs go to stderr, and so does
anything a library prints, so that nothing but frames reaches stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from typing import Any

from bot.context import ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import Provider, close_provider
from chatbot.provider_factory import ProviderConfig, build_provider
from chatbot.worker_wire import frame, read_frame

log = logging.getLogger("chatbot.model_worker")


class Worker:
    def __init__(self, config: ProviderConfig, out: asyncio.StreamWriter):
        self.config = config
        self.out = out
        self.providers: dict[str, Provider] = {}
        self.calls: dict[int, asyncio.Task[None]] = {}
        self._outbox: list[tuple[Any, ...]] = []  # frames not yet written, in order
        self._open_delta: dict[int, int] = {}  # call id -> its delta waiting in the outbox
        self._flush_scheduled = False

    def send(self, *message: Any) -> None:
        self._outbox.append(message)
        self._schedule_flush()

    def delta(self, call_id: int, text: str) -> None:
        """Deltas of one call that arrive within one loop pass travel as one frame."""
        at = self._open_delta.get(call_id)
        if at is None:
            self._open_delta[call_id] = len(self._outbox)
            self._outbox.append(("delta", call_id, text))
        else:
            self._outbox[at] = ("delta", call_id, self._outbox[at][2] + text)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        # One write per loop pass: a burst of answers would otherwise cost a syscall a frame.
        self._flush_scheduled = False
        data = b"".join(frame(m) for m in self._outbox)
        self._outbox.clear()
        self._open_delta.clear()
        self.out.write(data)

    def provider(self, name: str) -> Provider:
        if name not in self.providers:
            self.providers[name] = build_provider(self.config, name)
        return self.providers[name]

    def start(self, call_id: int, name: str, request: ModelRequest) -> None:
        task = asyncio.create_task(self.run(call_id, name, request))
        self.calls[call_id] = task
        task.add_done_callback(lambda _: self.calls.pop(call_id, None))

    async def run(self, call_id: int, name: str, request: ModelRequest) -> None:
        async def on_delta(text: str) -> None:
            self.delta(call_id, text)

        try:
            reply = await self.provider(name).complete(request, on_delta)
        except ProviderError as err:
            self.send("error", call_id, err.kind.value, err.detail, err.retry_after)
        except asyncio.CancelledError:
            return  # the server stopped waiting; it expects nothing more
        except Exception as exc:  # a provider bug: the server still gets an answer
            log.exception("model call failed")
            self.send("error", call_id, ErrorKind.SERVER.value, exc.__class__.__name__, None)
        else:
            self.send("done", call_id, reply)
        with contextlib.suppress(ConnectionError):  # the server is gone: stdin ends us next
            await self.out.drain()  # the pipe's buffer, if the server reads slowly

    async def close(self) -> None:
        for task in list(self.calls.values()):
            task.cancel()
        await asyncio.gather(*self.calls.values(), return_exceptions=True)
        for provider in self.providers.values():
            await close_provider(provider)


async def serve(stdin: int, stdout: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(stdin, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(stdout, "wb", 0)
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    first = await read_frame(reader)
    if first is None:
        return
    kind, config, names = first
    assert kind == "config" and isinstance(config, ProviderConfig)
    worker = Worker(config, out)
    for name in names:  # import the SDKs now, not on the first call
        worker.provider(name)
    gc.collect()
    gc.freeze()  # as the server does (chatbot/cli.py): full collections skip start-up objects
    worker.send("ready")
    try:
        while (message := await read_frame(reader)) is not None:
            if message[0] == "call":
                _, call_id, name, request = message
                worker.start(call_id, name, request)
            elif message[0] == "cancel" and (task := worker.calls.get(message[1])):
                task.cancel()
    finally:  # stdin closed: the server is gone or shutting us down
        await worker.close()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("CHATBOT_LOG_LEVEL", "WARNING").upper(),
        stream=sys.stderr,
        format="%(levelname)s model worker %(process)d: %(message)s",
    )
    # The server ends us by closing stdin, after it has drained the answers in flight; a Ctrl-C
    # or a supervisor's SIGTERM to the whole group must not cut those answers short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Keep the real stdout for frames; anything else printed goes to stderr.
    frames_out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    frames_in = os.dup(sys.stdin.fileno())
    try:
        import uvloop

        uvloop.run(serve(frames_in, frames_out))
    except ImportError:
        asyncio.run(serve(frames_in, frames_out))


if __name__ == "__main__":
    main()
