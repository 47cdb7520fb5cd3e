"""The model stub, also speaking the OpenAI Responses API and the Gemini REST API.

`/v1/responses`: JSON, or the SSE event sequence the SDK's stream helpers expect
(response.created ... response.completed with usage), each answer with a fresh `resp_N` id.
`/{v1,v1beta}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`: Gemini's
chunks, with optional thought parts, finish reasons and prompt blocks. Scripted and recorded
like the Chat Completions route: `then(...)` and `requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from testing.stubs.model_server import ModelServer, Reply, _pieces, hashed_vector


@dataclass
class GeminiReply:
    text: str = "ok"
    thought: str | None = None  # a thought part sent before the answer
    finish_reason: str | None = "STOP"
    block_reason: str | None = None  # promptFeedback.blockReason: no candidates at all
    usage: tuple[int, int] = (13, 5)
    thoughts_tokens: int = 0
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

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self._begin(request)
        if not isinstance(behaviour, Reply):
            return behaviour
        rid = f"resp_{len(self.response_ids) + 1}"
        self.response_ids.append(rid)
        prompt, completion = behaviour.usage
        text_part = {"type": "output_text", "text": behaviour.text, "annotations": []}
        item = {
            "id": f"msg_{rid}",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [text_part],
        }
        response: dict[str, Any] = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": behaviour.model or body.get("model", "stub"),
            "instructions": body.get("instructions"),
            "previous_response_id": body.get("previous_response_id"),
            "output": [item],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
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
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        await event("response.created", {"response": pending})
        await event("response.in_progress", {"response": pending})
        await event(
            "response.output_item.added",
            {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
        )
        await event("response.content_part.added", {**where, "part": {**text_part, "text": ""}})
        for piece in behaviour.chunks or _pieces(behaviour.text):
            await asyncio.sleep(behaviour.chunk_delay)
            await event("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
        await event("response.output_text.done", {**where, "text": behaviour.text, "logprobs": []})
        await event("response.content_part.done", {**where, "part": text_part})
        await event("response.output_item.done", {"output_index": 0, "item": item})
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
        if isinstance(behaviour, Reply):
            await asyncio.sleep(behaviour.delay)
            gemini = GeminiReply(
                text=behaviour.text,
                usage=behaviour.usage,
                cached=behaviour.cached,
                model_version=behaviour.model,
            )
        else:
            assert isinstance(behaviour, GeminiReply)
            gemini = behaviour
        prompt, completion = gemini.usage
        usage = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion + gemini.thoughts_tokens,
        }
        if gemini.thoughts_tokens:
            usage["thoughtsTokenCount"] = gemini.thoughts_tokens
        if gemini.cached:
            usage["cachedContentTokenCount"] = gemini.cached
        chunks: list[dict[str, Any]] = []
        if gemini.block_reason:
            chunks.append({"promptFeedback": {"blockReason": gemini.block_reason}})
        else:
            if gemini.thought:
                chunks.append(_candidate([{"text": gemini.thought, "thought": True}]))
            for piece in _pieces(gemini.text) if gemini.text else []:
                chunks.append(_candidate([{"text": piece}]))
            last = _candidate([])
            last["candidates"][0]["finishReason"] = gemini.finish_reason
            chunks.append(last)
        for chunk in chunks:
            chunk["modelVersion"] = gemini.model_version or model
        chunks[-1]["usageMetadata"] = usage
        if method == "generateContent":
            return web.json_response(chunks[-1])  # enough for a non-streamed caller
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\n".encode())
        await resp.write_eof()
        return resp


def _candidate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    return {"candidates": [{"index": 0, "content": content}]}
