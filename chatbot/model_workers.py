"""Model calls spread over worker processes: CHATBOT_MODEL_WORKERS=N.

Building a request and parsing a streamed answer in the openai and google-genai SDKs costs a few
milliseconds of CPU per call. In one process, a burst of turns queues on that, on one core. With
workers, the server keeps the chats, the database and the delivery; each worker process
(chatbot/model_worker.py) runs the SDK calls, with the same provider classes, and streams the
deltas back over a pipe (frames: chatbot/worker_wire.py).

A call goes to the worker with the fewest calls in flight. A worker that dies fails its calls
with a provider error, which the core retries like any other, on a worker started afresh.
Workers run in their own session and ignore SIGINT/SIGTERM: the server ends them by closing
their stdin once it has drained the answers in flight (and a worker whose server is gone sees
its stdin close too).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
from dataclasses import dataclass, field

from bot.context import ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply
from chatbot.provider_factory import ProviderConfig, provider_class
from chatbot.worker_wire import frame, read_frame

log = logging.getLogger(__name__)

Event = tuple[str, object]
READY_TIMEOUT = 60.0  # seconds for a new worker to import the SDKs and say it is ready


@dataclass
class _Worker:
    number: int
    proc: asyncio.subprocess.Process
    calls: dict[int, asyncio.Queue[Event]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self.reader is not None and not self.reader.done()


class ModelWorkers:
    def __init__(self, config: ProviderConfig, count: int, warm: tuple[str, ...] = ()):
        """`warm`: the providers each worker builds (and imports the SDK of) before it is ready."""
        if count < 1:
            raise ValueError("ModelWorkers needs at least one worker")
        self.config = config
        self.count = count
        self.warm = warm
        self._workers: list[_Worker | None] = [None] * count
        self.served = [0] * count  # calls sent to each worker slot
        self.starts = 0  # processes started, restarts included
        self._ids = itertools.count(1)
        self._starting: dict[int, asyncio.Task[_Worker]] = {}
        self._closed = False

    def provider(self, name: str) -> WorkerProvider:
        return WorkerProvider(name, self)

    async def start(self) -> None:
        await asyncio.gather(*(self._worker(n) for n in range(self.count)))

    async def close(self) -> None:
        self._closed = True
        workers = [w for w in self._workers if w is not None]
        for w in workers:
            if w.proc.stdin is not None:
                w.proc.stdin.close()  # a worker exits when its stdin closes
        for w in workers:
            try:
                await asyncio.wait_for(w.proc.wait(), 5)
            except TimeoutError:
                w.proc.kill()
                await w.proc.wait()
            if w.reader is not None:
                await asyncio.gather(w.reader, return_exceptions=True)

    def in_flight(self) -> int:
        return sum(len(w.calls) for w in self._workers if w is not None)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w is not None and w.alive]

    # -- one call --------------------------------------------------------------------------

    async def call(self, name: str, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        if self._closed:
            raise ProviderError(ErrorKind.SERVER, "model workers are shut down")
        number = min(range(self.count), key=self._load)
        worker = await self._worker(number)
        self.served[number] += 1
        call_id = next(self._ids)
        events: asyncio.Queue[Event] = asyncio.Queue()
        worker.calls[call_id] = events
        try:
            try:
                self._send(worker, ("call", call_id, name, request))
            except (ConnectionError, RuntimeError) as exc:  # it died just now
                raise ProviderError(ErrorKind.SERVER, "model worker unreachable") from exc
            while True:
                kind, value = await events.get()
                if kind == "delta":
                    assert isinstance(value, str)
                    await on_delta(value)
                elif kind == "done":
                    assert isinstance(value, ModelReply)
                    return value
                else:
                    assert isinstance(value, ProviderError)
                    raise value
        except asyncio.CancelledError:
            if worker.alive:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    self._send(worker, ("cancel", call_id))
            raise
        finally:
            worker.calls.pop(call_id, None)

    def _load(self, number: int) -> int:
        worker = self._workers[number]
        return len(worker.calls) if worker is not None else 0

    def _send(self, worker: _Worker, message: tuple[object, ...]) -> None:
        assert worker.proc.stdin is not None
        worker.proc.stdin.write(frame(message))

    # -- the processes -------------------------------------------------------------------------

    async def _worker(self, number: int) -> _Worker:
        worker = self._workers[number]
        if worker is not None and worker.alive:
            return worker
        # One start at a time per slot, however many calls are waiting for it.
        if number not in self._starting:
            self._starting[number] = asyncio.create_task(self._spawn(number))
            self._starting[number].add_done_callback(lambda _: self._starting.pop(number, None))
        return await asyncio.shield(self._starting[number])

    async def _spawn(self, number: int) -> _Worker:
        env = {
            **os.environ,
            "CHATBOT_LOG_LEVEL": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chatbot.model_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=2**26,
            # Its own session: a Ctrl-C or a signal to the server's process group must not kill
            # a worker while the server is still finishing the answers in flight.
            start_new_session=True,
        )
        worker = _Worker(number, proc)
        self._send(worker, ("config", self.config, self.warm))
        assert proc.stdout is not None
        try:
            ready = await asyncio.wait_for(read_frame(proc.stdout), READY_TIMEOUT)
        except TimeoutError:
            ready = None
        if ready != ("ready",):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise ProviderError(ErrorKind.SERVER, f"model worker {number} did not start")
        worker.reader = asyncio.create_task(self._read(worker))
        self._workers[number] = worker
        self.starts += 1
        log.info("model worker %d started (pid %d)", number, proc.pid)
        return worker

    async def _read(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        try:
            while (message := await read_frame(worker.proc.stdout)) is not None:
                kind, call_id = message[0], message[1]
                events = worker.calls.get(call_id)
                if events is None:
                    continue  # a call the server stopped waiting for
                if kind == "error":
                    _, _, error_kind, detail, retry_after = message
                    events.put_nowait(
                        ("error", ProviderError(ErrorKind(error_kind), detail, retry_after))
                    )
                else:
                    events.put_nowait((kind, message[2]))
        except Exception:
            log.exception("model worker %d sent a frame we could not read", worker.number)
        finally:
            if not self._closed:
                log.warning(
                    "model worker %d (pid %d) exited; it restarts on the next call",
                    worker.number,
                    worker.proc.pid,
                )
            lost = ProviderError(ErrorKind.SERVER, "model worker exited")
            for events in worker.calls.values():
                events.put_nowait(("error", lost))
            if worker.proc.returncode is None and not self._closed:
                worker.proc.kill()


class WorkerProvider:
    """The core's Provider for one provider name, answered by the worker processes."""

    def __init__(self, name: str, workers: ModelWorkers):
        self.name = name
        self.workers = workers
        # What the core asks of a provider class (e.g. `chains`) holds for its worker proxy.
        self.chains = bool(getattr(provider_class(name), "chains", False))

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        return await self.workers.call(self.name, request, on_delta)
