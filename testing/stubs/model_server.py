"""A loopback model server that speaks the OpenAI wire protocol and records what it received.

Tests script its answers (a streamed reply, a round that asks for tools, an answer grounded by
hosted web search, an HTTP error with headers, garbage, silence) and then assert on `requests`:
the real `openai` SDK talks to it over 127.0.0.1, nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Reply:
    text: str = "ok"
    chunks: list[str] | None = None  # how to stream it; default: about 4 pieces
    delay: float = 0.0  # before the first byte
    chunk_delay: float = 0.0  # between stream chunks
    usage: tuple[int, int] = (11, 7)  # prompt, completion tokens
    burst: bool = False  # every chunk in one write: the client reads them all at once
    cached: int = 0  # of the prompt tokens, served from the prompt cache
    reasoning: int = 0  # of the completion tokens, spent reasoning
    model: str | None = None  # the model the server says answered (default: the one asked)


@dataclass
class ToolCalls:
    """A model round that asks for tools, in each provider's own streamed wire format.

    `calls` are (name, arguments) pairs, all asked at once; the arguments are the raw JSON text
    the model "wrote", sent as is (so a test can send bad JSON; Gemini's wire carries an object,
    so there it must parse). `text` is said first, streamed before the calls. Call ids are fresh
    for every call the server hands out (`call_1`, `call_2`, ...: see `ModelServer.call_ids`)
    unless `ids` names them.
    """

    calls: list[tuple[str, str]]
    text: str = ""
    ids: list[str] | None = None
    delay: float = 0.0  # before the first byte
    chunk_delay: float = 0.0  # between stream chunks
    usage: tuple[int, int] = (11, 7)  # prompt, completion tokens
    pieces: int = 3  # Chat / Responses: each call's arguments arrive in about this many chunks
    # Gemini: whether functionCall parts carry an `id` (as Gemini 3 sends; 2.5 sends none), and
    # the thoughtSignature on the first call part (base64, as on the wire; None: no signature).
    gemini_ids: bool = True
    signature: str | None = "c3R1Yi1zaWduYXR1cmUtMQ=="
    cached: int = 0  # as Reply's: of the prompt tokens, served from the prompt cache
    reasoning: int = 0
    model: str | None = None


@dataclass
class Searched(Reply):
    """An answer grounded by the provider's hosted web search: the Responses API's
    `web_search_call` item and `url_citation` annotations, Gemini's `groundingMetadata`.
    Chat Completions hosts no search: there it is a plain Reply."""

    sources: list[tuple[str, str]] = field(default_factory=list)  # (url, title), repeats kept
    query: str = "stub query"


@dataclass
class Status:
    code: int
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Garbage:
    body: str = "<html>this is not JSON</html>"
    content_type: str = "text/event-stream"


@dataclass
class Hang:
    seconds: float = 30.0


Behaviour = Reply | ToolCalls | Status | Garbage | Hang
Answer = Reply | ToolCalls  # what a route builds a body for
# Subclasses script their own shapes too (GeminiReply): the script holds any of them.
Responder = Callable[[dict[str, Any]], object]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def json_bytes(data: Any) -> bytes:
    """JSON as servers send it: UTF-8, except that half of a surrogate pair (a model's chunk may
    end inside an emoji) can only travel escaped, as `\\ud83d`, which JSON allows."""
    try:
        return json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(data).encode()


EMBEDDING_DIMENSIONS = 256


def hashed_vector(text: str, dims: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic stand-in for a real embedding: hashed character trigrams of the words
    (3 letters or more), normalised, so texts that share word stems point the same way (good
    enough to test the path for real)."""
    import hashlib
    import math
    import re

    vector = [0.0] * dims
    for word in re.findall(r"\w{3,}", text.lower()):
        for i in range(len(word) - 2):
            digest = hashlib.blake2b(word[i : i + 3].encode(), digest_size=2).digest()
            vector[int.from_bytes(digest, "big") % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _pieces(text: str, n: int = 4) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ModelServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[object] = deque()
        self.default: Responder = lambda body: Reply(f"answer {len(self.requests)}")
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()
        self.call_ids: list[str] = []  # tool call ids handed out by ToolCalls, in order
        # /v1/moderations: which inputs are flagged (tests set it).
        self.flag: Callable[[str], bool] = lambda text: False

    # -- scripting ---------------------------------------------------------------------------

    def then(self, *behaviours: object) -> Self:
        self.script.extend(behaviours)
        return self

    def ids_for(self, behaviour: ToolCalls) -> list[str]:
        """The ids of this round's calls: the script's own, or fresh ones."""
        if behaviour.ids is not None:
            assert len(behaviour.ids) == len(behaviour.calls), "one id per call"
            ids = list(behaviour.ids)
        else:
            start = len(self.call_ids) + 1
            ids = [f"call_{start + i}" for i in range(len(behaviour.calls))]
        self.call_ids += ids
        return ids

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def embedding_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/embeddings")]

    def moderation_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/moderations")]

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} model requests, got {len(self.requests)}")
            await asyncio.sleep(0.01)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Self:
        # Requests with images carry them as base64 data URLs: far past aiohttp's 1 MiB default.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self.add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def add_routes(self, app: web.Application) -> None:
        """Subclasses speaking other wire protocols add their routes here."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the wire ----------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(Recorded(request.path, dict(request.headers), body, time.monotonic()))
        self.arrived.set()
        return body

    def _next(self, body: dict[str, Any]) -> object:
        return self.script.popleft() if self.script else self.default(body)

    async def _common(self, behaviour: object) -> web.StreamResponse | None:
        if isinstance(behaviour, Status):
            if isinstance(behaviour.body, str):
                return web.Response(
                    status=behaviour.code, text=behaviour.body, headers=behaviour.headers
                )
            return web.json_response(
                behaviour.body, status=behaviour.code, headers=behaviour.headers
            )
        if isinstance(behaviour, Garbage):
            return web.Response(text=behaviour.body, content_type=behaviour.content_type)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            return web.Response(status=504)
        return None

    async def _begin(
        self, request: web.Request
    ) -> tuple[dict[str, Any], Answer | web.StreamResponse]:
        """Record the request and pick its behaviour: a Reply or ToolCalls (after its delay) to
        build, or the finished response for an error, garbage or silence."""
        body = await self._record(request)
        behaviour = self._next(body)
        early = await self._common(behaviour)
        if early is not None:
            return body, early
        assert isinstance(behaviour, Reply | ToolCalls), f"not a behaviour: {behaviour!r}"
        await asyncio.sleep(behaviour.delay)
        return body, behaviour

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self._begin(request)
        if isinstance(behaviour, web.StreamResponse):
            return behaviour
        if isinstance(behaviour, ToolCalls):
            return await self._chat_tool_calls(request, body, behaviour)
        model = behaviour.model or body.get("model", "stub")
        prompt, completion = behaviour.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": behaviour.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": behaviour.reasoning},
        }
        base = {"id": "chatcmpl-stub", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": behaviour.text},
                        }
                    ],
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        held: list[bytes] = []

        async def event(data: dict[str, Any]) -> None:
            line = b"data: " + json_bytes(data) + b"\n\n"
            if behaviour.burst:
                held.append(line)
            else:
                await resp.write(line)

        chunk = {**base, "object": "chat.completion.chunk"}
        await event(
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        )
        for piece in behaviour.chunks or _pieces(behaviour.text):
            await asyncio.sleep(behaviour.chunk_delay)
            await event({**chunk, "choices": [{"index": 0, "delta": {"content": piece}}]})
        await event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await event({**chunk, "choices": [], "usage": usage})
        await resp.write(b"".join(held) + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _chat_tool_calls(
        self, request: web.Request, body: dict[str, Any], behaviour: ToolCalls
    ) -> web.StreamResponse:
        """A round that asks for tools, as Chat Completions streams it: any text first, then
        each call's index, id and name in one chunk and its arguments over the next few,
        `finish_reason: "tool_calls"`, and the usage chunk when `stream_options` asks."""
        ids = self.ids_for(behaviour)
        prompt, completion = behaviour.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        base = {"id": "chatcmpl-stub", "created": int(time.time()), "model": body.get("model")}
        calls: list[dict[str, Any]] = [
            {"id": i, "type": "function", "function": {"name": name, "arguments": arguments}}
            for i, (name, arguments) in zip(ids, behaviour.calls, strict=True)
        ]
        if not body.get("stream"):
            message = {"role": "assistant", "content": behaviour.text or None, "tool_calls": calls}
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {**base, "object": "chat.completion.chunk"}

        async def delta(content: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": content, "finish_reason": finish}
            await resp.write(b"data: " + json_bytes({**chunk, "choices": [choice]}) + b"\n\n")
            await asyncio.sleep(behaviour.chunk_delay)

        first: dict[str, Any] = {"role": "assistant", "content": None}
        if behaviour.text:
            await delta({"role": "assistant", "content": ""})
            for piece in _pieces(behaviour.text):
                await delta({"content": piece})
            first = {}
        for index, call in enumerate(calls):
            head = {**call, "index": index, "function": {**call["function"], "arguments": ""}}
            await delta({**first, "tool_calls": [head]})
            first = {}
            arguments = call["function"]["arguments"]
            for piece in _pieces(arguments, behaviour.pieces) if arguments else []:
                await delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        await delta({}, "tool_calls")
        if (body.get("stream_options") or {}).get("include_usage"):
            last: dict[str, Any] = {**chunk, "choices": [], "usage": usage}
            await resp.write(b"data: " + json_bytes(last) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_vector(str(text))}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(str(t)) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "stub"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = []
        for text in inputs:
            flagged = self.flag(str(text))
            results.append(
                {
                    "flagged": flagged,
                    "categories": {"harassment": flagged},
                    "category_scores": {"harassment": 0.99 if flagged else 0.01},
                    "category_applied_input_types": {"harassment": ["text"]},
                }
            )
        return web.json_response(
            {"id": "modr-stub", "model": body.get("model", "stub"), "results": results}
        )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
