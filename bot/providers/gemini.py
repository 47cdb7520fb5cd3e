"""Google Gemini through `google-genai`'s async client, streamed with generate_content_stream.

The system prompt goes as `system_instruction`; the history as `user` / `model` contents (one
role may not speak twice in a row, so consecutive turns of one role are merged). Thought parts
are dropped. SDK retries stay off: the core retries every provider the same way.
"""

from __future__ import annotations

from typing import Any

from google import genai
from google.genai import types

from bot.context import ChatTurn, ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply
from bot.providers.gemini_errors import classify_gemini_error
from bot.types import Usage

# Finish reasons that mean "the model would not say this", not "it finished".
BLOCKING_FINISH = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "LANGUAGE",
}


def build_gemini_client(api_key: str, base_url: str | None, timeout: float) -> genai.Client:
    # The SDK's timeout bounds the whole streamed request, not the wait for a byte, so it gets
    # the service's overall bound (3x); a silent server is still cut off by that bound.
    options = types.HttpOptions(base_url=base_url, timeout=int(timeout * 3 * 1000))
    return genai.Client(api_key=api_key, http_options=options)


def gemini_contents(turns: list[ChatTurn]) -> list[types.Content]:
    contents: list[types.Content] = []
    for turn in turns:
        role = "model" if turn.role == "assistant" else "user"
        if contents and contents[-1].role == role and contents[-1].parts:
            contents[-1].parts.append(types.Part(text=turn.content))
        else:
            contents.append(types.Content(role=role, parts=[types.Part(text=turn.content)]))
    return contents


def gemini_config(request: ModelRequest) -> types.GenerateContentConfig:
    s = request.settings
    params: dict[str, Any] = {
        "system_instruction": request.system,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_output_tokens": s.max_output_tokens,
        # A tag's own `timeout`, per call; like the client's, it bounds the whole stream.
        "http_options": types.HttpOptions(timeout=int(s.timeout * 3 * 1000)),
    }
    if s.thinking_budget is not None:
        params["thinking_config"] = types.ThinkingConfig(thinking_budget=s.thinking_budget)
    return types.GenerateContentConfig(**{k: v for k, v in params.items() if v is not None})


def _name(value: object) -> str:
    return str(getattr(value, "value", value) or "")


class GeminiProvider:
    name = "gemini"

    def __init__(self, client: genai.Client):
        self.client = client

    async def aclose(self) -> None:
        await self.client.aio.aclose()

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        model = request.settings.model
        parts: list[str] = []
        usage = Usage(model=model, provider=self.name)
        blocked = ""
        try:
            stream = await self.client.aio.models.generate_content_stream(
                model=model, contents=gemini_contents(request.turns), config=gemini_config(request)
            )
            async for chunk in stream:
                feedback = chunk.prompt_feedback
                if feedback is not None and feedback.block_reason:
                    blocked = f"prompt blocked: {_name(feedback.block_reason)}"
                meta = chunk.usage_metadata
                if meta is not None and (meta.total_token_count or meta.prompt_token_count):
                    prompt = meta.prompt_token_count or 0
                    output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
                    usage = Usage(
                        input_tokens=prompt,
                        output_tokens=output,
                        total_tokens=meta.total_token_count or prompt + output,
                        model=chunk.model_version or model,
                        provider=self.name,
                        # Part of prompt_token_count: context served from Gemini's cache.
                        cached_input_tokens=meta.cached_content_token_count or 0,
                    )
                for candidate in chunk.candidates or []:
                    finish = _name(candidate.finish_reason)
                    if finish in BLOCKING_FINISH:
                        blocked = f"answer stopped: {finish}"
                    for part in (candidate.content.parts if candidate.content else None) or []:
                        if part.thought or not part.text:
                            continue  # thoughts never reach the chat
                        parts.append(part.text)
                        await on_delta(part.text)
        except ProviderError:
            raise
        except Exception as exc:  # every SDK, transport and parse error is classified
            raise classify_gemini_error(exc) from exc
        text = "".join(parts)
        if not text.strip():
            if blocked:
                raise ProviderError(ErrorKind.BLOCKED, blocked)
            raise ProviderError(ErrorKind.BAD_RESPONSE, "empty answer (no candidates)")
        return ModelReply(text=text, usage=usage)
