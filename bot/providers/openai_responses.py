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
from bot.providers.openai_errors import classify_openai_error
from bot.providers.openai_events import cached_tokens, json_events
from bot.types import Usage

log = logging.getLogger(__name__)


def _input(turns: list[ChatTurn]) -> list[dict[str, str]]:
    return [{"role": t.role, "content": t.content} for t in turns]


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
        items: list[dict[str, str]],
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
        try:
            async with self.responses.with_streaming_response.create(
                model=s.model,
                instructions=request.system,
                input=[],
                extra_body={"input": items},  # see PLAIN_BODY_NOTE in openai_chat.py
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
        if not text.strip():
            raise ProviderError(ErrorKind.BAD_RESPONSE, "empty answer")
        return ModelReply(text=text, usage=usage, response_id=response_id)


class _ChainLost(Exception):
    """Internal: the previous response id was refused; answer without it."""
