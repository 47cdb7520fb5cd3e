"""OpenAI Responses API, streamed, chained per channel with `previous_response_id`.

The service gives us the channel's chain (the last response id) and the turns said since that
response, plain chat included; we send those with `previous_response_id`, so the model hears
what people said in between. When the server no longer knows the id (expired, deleted, another
store), we answer from the full history instead and the reply's id starts a new chain.
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from bot.context import ChatTurn, ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply
from bot.providers.openai_chat import data_url
from bot.providers.openai_errors import classify_openai_error
from bot.providers.openai_events import cached_tokens, json_events
from bot.tools.base import Source, ToolCall, ToolRound
from bot.types import Usage

log = logging.getLogger(__name__)


def _item(turn: ChatTurn) -> dict[str, Any]:
    """A turn as a Responses input item: plain text, or `input_text` and `input_image` parts."""
    if not turn.images:
        return {"role": turn.role, "content": turn.content}
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": turn.content}]
    parts += [{"type": "input_image", "image_url": data_url(i)} for i in turn.images]
    return {"role": turn.role, "content": parts}


def _input(turns: list[ChatTurn]) -> list[dict[str, Any]]:
    return [_item(t) for t in turns]


def _outputs(round_: ToolRound) -> list[dict[str, Any]]:
    return [
        {"type": "function_call_output", "call_id": r.call.id, "output": r.output}
        for r in round_.results
    ]


def _rounds(rounds: list[ToolRound]) -> list[dict[str, Any]]:
    """This turn's tool rounds as input items, for a call that cannot continue the chain."""
    items: list[dict[str, Any]] = []
    for round_ in rounds:
        if round_.text:  # what the model said before it asked: part of its turn
            items.append({"role": "assistant", "content": round_.text})
        items += [
            {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
            for c in round_.calls
        ]
        items += _outputs(round_)
    return items


def _tools(request: ModelRequest) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
        }
        for t in request.tools
    ]
    if request.web_search:
        tools.append({"type": "web_search"})  # hosted by OpenAI: no round trip through us
    return tools


def is_chain_lost(exc: BaseException) -> bool:
    """The server does not know our previous_response_id (400/404 `previous_response_not_found`)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 404):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body, dict) else {}
    inner = inner if isinstance(inner, dict) else {}
    code = str(inner.get("code") or "")
    param = str(inner.get("param") or "")
    message = str(inner.get("message") or exc.message).lower()
    return (
        code == "previous_response_not_found"
        or param == "previous_response_id"
        or ("previous response" in message and "not found" in message)
    )


class OpenAIResponsesProvider:
    name = "openai-responses"
    chains = True  # the service keeps a per-channel response chain for us

    def __init__(self, client: openai.AsyncOpenAI):
        self.client = client
        self.responses = client.responses  # resolved now, not on the first call

    async def aclose(self) -> None:
        await self.client.close()

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        if request.rounds:
            # The response that asked for the tools is on the server: send only their outputs.
            # They belong to the chain, whose next link is this call's answer.
            asked = request.rounds[-1]
            if asked.response_id:
                try:
                    return await self._call(request, _outputs(asked), asked.response_id, on_delta)
                except _ChainLost:
                    log.info(
                        "response %s is gone; sending the tool rounds in full", asked.response_id
                    )
            turns = request.turns
            return await self._call(
                request, _input(turns) + _rounds(request.rounds), None, on_delta
            )
        if request.previous_response_id:
            try:
                return await self._call(
                    request,
                    _input(request.turns_since_previous),
                    request.previous_response_id,
                    on_delta,
                )
            except _ChainLost:
                log.info(
                    "response %s is gone in %s; answering from history, new chain",
                    request.previous_response_id,
                    request.channel,
                )
        return await self._call(request, _input(request.turns), None, on_delta)

    async def _call(
        self,
        request: ModelRequest,
        items: list[dict[str, Any]],
        previous_id: str | None,
        on_delta: DeltaSink,
    ) -> ModelReply:
        s = request.settings
        params: dict[str, Any] = {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_output_tokens": s.max_output_tokens,
            "previous_response_id": previous_id,
        }
        parts: list[str] = []
        usage = Usage(model=s.model, provider=self.name)
        response_id: str | None = None
        output: list[dict[str, Any]] = []
        body: dict[str, Any] = {"input": items}  # see PLAIN_BODY_NOTE in openai_chat.py
        tools = _tools(request)
        if tools:
            body["tools"] = tools
            if request.tool_choice == "none":
                body["tool_choice"] = "none"
        try:
            async with self.responses.with_streaming_response.create(
                model=s.model,
                instructions=request.system,
                input=[],
                extra_body=body,
                stream=True,
                store=True,  # chaining needs the server to keep the response
                timeout=s.timeout,  # a tag's own `timeout`, per call
                **{k: v for k, v in params.items() if v is not None},
            ) as stream:
                async for event in json_events(stream):  # plain dicts: see openai_events.py
                    kind = event.get("type", "")
                    if kind == "response.output_text.delta":
                        delta = event.get("delta")
                        if delta:
                            parts.append(delta)
                            await on_delta(delta)
                    elif kind in ("response.completed", "response.incomplete"):
                        response = event.get("response") or {}
                        response_id = response.get("id")
                        output = [o for o in response.get("output") or [] if isinstance(o, dict)]
                        used = response.get("usage")
                        if used:
                            usage = Usage(
                                input_tokens=used.get("input_tokens") or 0,
                                output_tokens=used.get("output_tokens") or 0,
                                total_tokens=used.get("total_tokens") or 0,
                                model=response.get("model") or s.model,
                                provider=self.name,
                                cached_input_tokens=cached_tokens(used.get("input_tokens_details")),
                            )
                    elif kind == "response.failed":
                        error = (event.get("response") or {}).get("error")
                        raise ProviderError(ErrorKind.SERVER, f"response failed: {error}"[:300])
                    elif kind == "error":
                        code = str(event.get("code") or "")
                        raise ProviderError(
                            ErrorKind.RATE_LIMITED if "rate_limit" in code else ErrorKind.SERVER,
                            f"stream error {code}: {event.get('message', '')}"[:300],
                        )
        except ProviderError:
            raise
        except Exception as exc:  # every SDK, transport and parse error is classified
            if previous_id is not None and is_chain_lost(exc):
                raise _ChainLost from exc
            raise classify_openai_error(exc) from exc
        text = "".join(parts)
        calls = [
            ToolCall(
                id=str(o.get("call_id") or o.get("id") or ""),
                name=str(o.get("name") or ""),
                arguments=str(o.get("arguments") or ""),
            )
            for o in output
            if o.get("type") == "function_call" and o.get("name")
        ]
        if not text.strip() and not calls:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "empty answer")
        return ModelReply(
            text=text,
            usage=usage,
            response_id=response_id,
            tool_calls=calls,
            sources=_sources(output),
        )


def _sources(output: list[dict[str, Any]]) -> list[Source]:
    """The pages the hosted web search cited (url_citation annotations of the answer)."""
    found: dict[str, Source] = {}
    for item in output:
        for content in item.get("content") or []:
            if not isinstance(content, dict):
                continue
            for note in content.get("annotations") or []:
                if (
                    isinstance(note, dict)
                    and note.get("type") == "url_citation"
                    and note.get("url")
                ):
                    url = str(note["url"])
                    found.setdefault(url, Source(url=url, title=str(note.get("title") or "")))
    return list(found.values())


class _ChainLost(Exception):
    """Internal: the previous response id was refused; answer without it."""
