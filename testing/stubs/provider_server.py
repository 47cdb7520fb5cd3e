"""The model stub, also speaking the OpenAI Responses API and the Gemini REST API.

`/v1/responses`: JSON, or the SSE event sequence the SDK's stream helpers expect
(response.created ... response.completed with usage), each answer with a fresh `resp_N` id;
ToolCalls as `function_call` items (arguments streamed in deltas), Searched as a
`web_search_call` item and `url_citation` annotations.
`/{v1,v1beta}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`: Gemini's
chunks, with optional thought parts, finish reasons and prompt blocks; ToolCalls as
`functionCall` parts (a thoughtSignature on the first), Searched as `groundingMetadata`.
Scripted and recorded like the Chat Completions route: `then(...)` and `requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from testing.stubs.model_server import (
    Answer,
    ModelServer,
    Reply,
    Searched,
    ToolCalls,
    _pieces,
    hashed_vector,
)


@dataclass
class GeminiReply:
    text: str = "ok"
    thought: str | None = None  # a thought part sent before the answer
    finish_reason: str | None = "STOP"
    block_reason: str | None = None  # promptFeedback.blockReason: no candidates at all
    usage: tuple[int, int] = (13, 5)
    thoughts_tokens: int = 0
    # Google Search grounding: the pages (uri, title) in groundingMetadata.groundingChunks.
    sources: list[tuple[str, str]] = field(default_factory=list)
    query: str = "stub query"
    cached: int = 0  # cachedContentTokenCount: part of the prompt, from Gemini's cache
    model_version: str | None = None  # what the server says answered (default: the one asked)


class ProviderServer(ModelServer):
    def __init__(self) -> None:
        super().__init__()
        self.response_ids: list[str] = []  # ids handed out by /v1/responses, in order
        self.gemini_queries: list[str] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/responses", self._responses)
        for version in ("v1", "v1beta"):
            app.router.add_post(f"/{version}/models/{{call}}", self._gemini)

    @property
    def root(self) -> str:
        """The server without `/v1`: what GOOGLE_GEMINI_BASE_URL points at."""
        return self.url.removesuffix("/v1")

    def responses_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/responses")]

    def gemini_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if "/models/" in r.path]

    # -- Responses API -----------------------------------------------------------------------

    def _response_output(self, rid: str, behaviour: Answer) -> list[dict[str, Any]]:
        """The response's output items, finished: what response.completed carries."""
        items: list[dict[str, Any]] = []
        if isinstance(behaviour, Searched):
            items.append(
                {
                    "id": f"ws_{rid}",
                    "type": "web_search_call",
                    "status": "completed",
                    "action": {"type": "search", "query": behaviour.query},
                }
            )
        text = behaviour.text
        if isinstance(behaviour, Reply) or text:
            notes = [
                {
                    "type": "url_citation",
                    "start_index": 0,
                    "end_index": len(text),
                    "url": url,
                    "title": title,
                }
                for url, title in (behaviour.sources if isinstance(behaviour, Searched) else [])
            ]
            items.append(
                {
                    "id": f"msg_{rid}",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": notes}],
                }
            )
        if isinstance(behaviour, ToolCalls):
            ids = self.ids_for(behaviour)
            for n, (call_id, (name, arguments)) in enumerate(
                zip(ids, behaviour.calls, strict=True)
            ):
                items.append(
                    {
                        "id": f"fc_{rid}_{n}",
                        "type": "function_call",
                        "status": "completed",
                        "arguments": arguments,
                        "call_id": call_id,
                        "name": name,
                    }
                )
        return items

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self._begin(request)
        if isinstance(behaviour, web.StreamResponse):
            return behaviour
        rid = f"resp_{len(self.response_ids) + 1}"
        self.response_ids.append(rid)
        prompt, completion = behaviour.usage
        output = self._response_output(rid, behaviour)
        response: dict[str, Any] = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": behaviour.model or body.get("model", "stub"),
            "instructions": body.get("instructions"),
            "previous_response_id": body.get("previous_response_id"),
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "text": {"format": {"type": "text"}},
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": behaviour.cached},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": behaviour.reasoning},
                "total_tokens": prompt + completion,
            },
        }
        if not body.get("stream"):
            return web.json_response(response)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        seq = 0

        async def event(kind: str, data: dict[str, Any]) -> None:
            nonlocal seq
            payload = {"type": kind, "sequence_number": seq, **data}
            seq += 1
            line = f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            await resp.write(line.encode())

        pending = {**response, "status": "in_progress", "output": [], "usage": None}
        await event("response.created", {"response": pending})
        await event("response.in_progress", {"response": pending})
        for index, item in enumerate(output):
            where = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                chunks = behaviour.chunks if isinstance(behaviour, Reply) else None
                await _stream_message(event, where, item, chunks, behaviour.chunk_delay)
            elif item["type"] == "function_call":
                added = {**item, "status": "in_progress", "arguments": ""}
                await event("response.output_item.added", {"output_index": index, "item": added})
                arguments = item["arguments"]
                pieces = _pieces(arguments, getattr(behaviour, "pieces", 3)) if arguments else []
                for piece in pieces:
                    await asyncio.sleep(behaviour.chunk_delay)
                    await event("response.function_call_arguments.delta", {**where, "delta": piece})
                await event(
                    "response.function_call_arguments.done", {**where, "arguments": arguments}
                )
            else:  # the hosted web search ran before the answer
                added = {**item, "status": "in_progress", "action": {"type": "search"}}
                await event("response.output_item.added", {"output_index": index, "item": added})
                for stage in ("in_progress", "searching", "completed"):
                    await event(f"response.web_search_call.{stage}", where)
            if item["type"] != "message":
                await event("response.output_item.done", {"output_index": index, "item": item})
        await event("response.completed", {"response": response})
        await resp.write_eof()
        return resp

    # -- Gemini ------------------------------------------------------------------------------

    def _gemini_embeddings(self, method: str, body: dict[str, Any]) -> web.Response:
        requests = body.get("requests") or [body]
        vectors = []
        for one in requests:
            text = " ".join(p.get("text", "") for p in (one.get("content") or {}).get("parts", []))
            vectors.append({"values": hashed_vector(text)})
        if method == "embedContent":
            return web.json_response({"embedding": vectors[0]})
        return web.json_response({"embeddings": vectors})

    def _gemini_tool_calls(self, behaviour: ToolCalls) -> list[dict[str, Any]]:
        """A round that asks for functions, as Gemini streams it: any text in pieces, then the
        calls' parts together in the last chunk (STOP), the thought signature on the first."""
        chunks = [_candidate([{"text": piece}]) for piece in _pieces(behaviour.text)]
        parts: list[dict[str, Any]] = []
        for call_id, (name, arguments) in zip(
            self.ids_for(behaviour), behaviour.calls, strict=True
        ):
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):  # Gemini's wire has no way to say bad JSON
                raise ValueError(f"Gemini function args must be a JSON object: {arguments!r}")
            call: dict[str, Any] = {"name": name, "args": args}
            if behaviour.gemini_ids:
                call["id"] = call_id
            parts.append({"functionCall": call})
        if behaviour.signature is not None and parts:
            parts[0]["thoughtSignature"] = behaviour.signature
        last = _candidate(parts)
        last["candidates"][0]["finishReason"] = "STOP"
        chunks.append(last)
        return chunks

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        self.gemini_queries.append(request.query_string)
        model, _, method = request.match_info["call"].partition(":")
        if method in ("embedContent", "batchEmbedContents"):
            return self._gemini_embeddings(method, body)
        behaviour = self._next(body)
        early = await self._common(behaviour)
        if early is not None:
            return early
        assert isinstance(behaviour, Reply | ToolCalls | GeminiReply), f"not: {behaviour!r}"
        delay = 0.0 if isinstance(behaviour, GeminiReply) else behaviour.delay
        pause = 0.0 if isinstance(behaviour, GeminiReply) else behaviour.chunk_delay
        await asyncio.sleep(delay)
        model_version: str | None = None
        if isinstance(behaviour, ToolCalls):
            chunks = self._gemini_tool_calls(behaviour)
            usage = _gemini_usage(behaviour.usage, 0, behaviour.cached)
        else:
            if isinstance(behaviour, Reply):
                gemini = GeminiReply(
                    text=behaviour.text,
                    usage=behaviour.usage,
                    cached=behaviour.cached,
                    model_version=behaviour.model,
                    sources=behaviour.sources if isinstance(behaviour, Searched) else [],
                    query=behaviour.query if isinstance(behaviour, Searched) else "stub query",
                )
            else:
                gemini = behaviour
            chunks = _gemini_answer(gemini)
            usage = _gemini_usage(gemini.usage, gemini.thoughts_tokens, gemini.cached)
            model_version = gemini.model_version
        for chunk in chunks:
            chunk["modelVersion"] = model_version or model
        chunks[-1]["usageMetadata"] = usage
        if method == "generateContent":
            return web.json_response(chunks[-1])  # enough for a non-streamed caller
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for n, chunk in enumerate(chunks):
            if n:
                await asyncio.sleep(pause)
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\n".encode())
        await resp.write_eof()
        return resp


Event = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _stream_message(
    event: Event,
    where: dict[str, Any],
    item: dict[str, Any],
    chunks: list[str] | None,
    chunk_delay: float,
) -> None:
    """A message output item as the Responses API streams it: its text in deltas, then each
    citation as an annotation event, then the finished part and item."""
    index = where["output_index"]
    part = item["content"][0]
    at = {**where, "content_index": 0}
    await event(
        "response.output_item.added",
        {"output_index": index, "item": {**item, "status": "in_progress", "content": []}},
    )
    await event(
        "response.content_part.added", {**at, "part": {**part, "text": "", "annotations": []}}
    )
    for piece in chunks or _pieces(part["text"]):
        await asyncio.sleep(chunk_delay)
        await event("response.output_text.delta", {**at, "delta": piece, "logprobs": []})
    for n, note in enumerate(part["annotations"]):
        await event(
            "response.output_text.annotation.added",
            {**at, "annotation_index": n, "annotation": note},
        )
    await event("response.output_text.done", {**at, "text": part["text"], "logprobs": []})
    await event("response.content_part.done", {**at, "part": part})
    await event("response.output_item.done", {"output_index": index, "item": item})


def _gemini_usage(tokens: tuple[int, int], thoughts: int, cached: int) -> dict[str, Any]:
    prompt, completion = tokens
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached  # part of the prompt, from Gemini's cache
    return usage


def _gemini_answer(gemini: GeminiReply) -> list[dict[str, Any]]:
    """An answer's chunks: any thought, the text in pieces, then the finish (and grounding)."""
    if gemini.block_reason:
        return [{"promptFeedback": {"blockReason": gemini.block_reason}}]
    chunks: list[dict[str, Any]] = []
    if gemini.thought:
        chunks.append(_candidate([{"text": gemini.thought, "thought": True}]))
    for piece in _pieces(gemini.text) if gemini.text else []:
        chunks.append(_candidate([{"text": piece}]))
    last = _candidate([])
    last["candidates"][0]["finishReason"] = gemini.finish_reason
    if gemini.sources:
        # Google Search grounding: the pages as groundingChunks, each answer span's support.
        last["candidates"][0]["groundingMetadata"] = {
            "webSearchQueries": [gemini.query],
            "searchEntryPoint": {"renderedContent": f"<div>{gemini.query}</div>"},
            "groundingChunks": [{"web": {"uri": u, "title": t}} for u, t in gemini.sources],
            "groundingSupports": [
                {
                    "segment": {"startIndex": 0, "endIndex": len(gemini.text), "text": gemini.text},
                    "groundingChunkIndices": list(range(len(gemini.sources))),
                }
            ],
        }
    chunks.append(last)
    return chunks


def _candidate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    return {"candidates": [{"index": 0, "content": content}]}
