"""OpenAI Chat Completions, streamed, through the official async SDK.

Works unchanged against any OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp)
through OPENAI_BASE_URL. SDK retries are off: the core retries every provider the same way.
"""

from __future__ import annotations

import base64
from typing import Any

import openai

from bot.context import ChatTurn, ImagePart, ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply
from bot.providers.openai_errors import classify_openai_error
from bot.providers.openai_events import cached_tokens, json_events
from bot.tools.base import ToolCall
from bot.types import Usage

# PLAIN_BODY_NOTE: the SDK walks every request parameter through its TypedDict transform (aliases,
# date formats) before sending. For our plain {"role", "content"} strings it changes nothing, yet
# on Python 3.11 it costs about 0.35 ms of CPU per message: 14 ms for a 40-turn context, more than
# the rest of the call. `extra_body` is merged into the same JSON body unchanged, so the request on
# the wire is identical. Same workaround as in anthropics/anthropic-sdk-python#1195, which has the
# same generated transform.


def build_openai_client(api_key: str, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    # The SDK's aiohttp transport (its `aiohttp` extra): httpx's connection pool scans every
    # pooled connection on each request, which a burst of a hundred concurrent streams notices.
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(timeout=timeout),
    )


def sampling_params(request: ModelRequest) -> dict[str, Any]:
    s = request.settings
    params = {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "frequency_penalty": s.frequency_penalty,
        "presence_penalty": s.presence_penalty,
        "max_completion_tokens": s.max_output_tokens,
    }
    return {k: v for k, v in params.items() if v is not None}


def data_url(image: ImagePart) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def chat_message(turn: ChatTurn) -> dict[str, Any]:
    """A turn as Chat Completions wants it: plain text, or text and `image_url` parts."""
    if not turn.images:
        return {"role": turn.role, "content": turn.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn.content}]
    parts += [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in turn.images]
    return {"role": turn.role, "content": parts}


class OpenAIChatProvider:
    name = "openai"

    def __init__(self, client: openai.AsyncOpenAI):
        self.client = client
        # Resolved now: the SDK imports its resources lazily, about 80 ms on the first call.
        self.completions = client.chat.completions

    async def aclose(self) -> None:
        await self.client.close()

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        body: dict[str, Any] = {"messages": chat_messages(request)}  # see PLAIN_BODY_NOTE
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice == "none":
                body["tool_choice"] = "none"
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}  # streamed tool calls, by their index
        usage = Usage(model=request.settings.model, provider=self.name)
        try:
            async with self.completions.with_streaming_response.create(
                model=request.settings.model,
                messages=[],
                extra_body=body,
                stream=True,
                stream_options={"include_usage": True},
                timeout=request.settings.timeout,  # a tag's own `timeout`, per call
                **sampling_params(request),
            ) as response:
                async for chunk in json_events(response):  # plain dicts: see openai_events.py
                    used = chunk.get("usage")
                    if used:
                        usage = Usage(
                            input_tokens=used.get("prompt_tokens") or 0,
                            output_tokens=used.get("completion_tokens") or 0,
                            total_tokens=used.get("total_tokens") or 0,
                            model=chunk.get("model") or request.settings.model,
                            provider=self.name,
                            # Reasoning tokens are already in completion_tokens.
                            cached_input_tokens=cached_tokens(used.get("prompt_tokens_details")),
                        )
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        for piece in delta.get("tool_calls") or ():
                            _gather_call(calls, piece)
                        content = delta.get("content")
                        if content:
                            parts.append(content)
                            await on_delta(content)
        except Exception as exc:  # every SDK, transport and parse error is classified
            raise classify_openai_error(exc) from exc
        text = "".join(parts)
        tool_calls = [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
            for i, c in sorted(calls.items())
            if c["name"]
        ]
        if not text.strip() and not tool_calls:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "empty answer")
        return ModelReply(text=text, usage=usage, tool_calls=tool_calls)


def chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """The conversation in Chat Completions' shape, this turn's tool rounds at the end."""
    messages: list[dict[str, Any]] = [
        {"role": request.settings.system_role, "content": request.system}
    ]
    messages += [chat_message(t) for t in request.turns]
    for round_ in request.rounds:
        messages.append(
            {
                "role": "assistant",
                "content": round_.text or None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in round_.calls
                ],
            }
        )
        messages += [
            {"role": "tool", "tool_call_id": r.call.id, "content": r.output} for r in round_.results
        ]
    return messages


def _gather_call(calls: dict[int, dict[str, str]], piece: dict[str, Any]) -> None:
    """A streamed tool call arrives in pieces: its id and name first, its arguments in parts."""
    index = int(piece.get("index") or 0)
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if piece.get("id"):
        call["id"] = str(piece["id"])
    function = piece.get("function") or {}
    if function.get("name"):
        call["name"] += str(function["name"])
    if function.get("arguments"):
        call["arguments"] += str(function["arguments"])
