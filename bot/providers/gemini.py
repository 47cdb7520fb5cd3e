"""Google Gemini through `google-genai`'s async client, streamed with generate_content_stream.

The system prompt goes as `system_instruction`; the history as `user` / `model` contents (one
role may not speak twice in a row, so consecutive turns of one role are merged). Thought parts
are dropped. SDK retries stay off: the core retries every provider the same way.
"""

from __future__ import annotations

import json
from typing import Any

from google import genai
from google.genai import types

from bot.context import ChatTurn, ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply
from bot.providers.gemini_errors import classify_gemini_error
from bot.tools.base import Source, ToolCall, ToolRound
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


def gemini_parts(turn: ChatTurn) -> list[types.Part]:
    """A turn's text, then its images as inline data parts."""
    parts = [types.Part(text=turn.content)]
    parts += [
        types.Part(inline_data=types.Blob(mime_type=i.media_type, data=i.data)) for i in turn.images
    ]
    return parts


def gemini_contents(
    turns: list[ChatTurn], rounds: list[ToolRound] | None = None
) -> list[types.Content]:
    contents: list[types.Content] = []
    for turn in turns:
        role = "model" if turn.role == "assistant" else "user"
        if contents and contents[-1].role == role and contents[-1].parts:
            contents[-1].parts.extend(gemini_parts(turn))
        else:
            contents.append(types.Content(role=role, parts=gemini_parts(turn)))
    for round_ in rounds or []:
        # The model's own parts as it sent them (its text, thought signatures), then the results.
        asked = [p for p in round_.raw if isinstance(p, types.Part)] or _asked(round_)
        contents.append(types.Content(role="model", parts=asked))
        # An id only where the model's call had one: Gemini 2.5 sends none, and a response
        # must not name a call id the model never used (ours are made up: see complete()).
        ids = {p.function_call.id for p in asked if p.function_call and p.function_call.id}
        contents.append(
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=r.call.id if r.call.id in ids else None,
                            name=r.call.name,
                            response={"output": r.output},
                        )
                    )
                    for r in round_.results
                ],
            )
        )
    return contents


def _asked(round_: ToolRound) -> list[types.Part]:
    """A round's model turn rebuilt from its values, when its raw parts are not at hand."""
    said = [types.Part(text=round_.text)] if round_.text else []
    return said + [
        types.Part(function_call=types.FunctionCall(id=c.id, name=c.name, args=_args(c)))
        for c in round_.calls
    ]


def _args(call: ToolCall) -> dict[str, Any]:
    try:
        parsed = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def gemini_tools(request: ModelRequest) -> list[types.Tool]:
    tools: list[types.Tool] = []
    if request.tools:
        declarations = [
            types.FunctionDeclaration(
                name=t.name, description=t.description, parameters_json_schema=t.parameters
            )
            for t in request.tools
        ]
        tools.append(types.Tool(function_declarations=declarations))
    if request.web_search:
        tools.append(types.Tool(google_search=types.GoogleSearch()))  # grounding, by Google
    return tools


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
    tools = gemini_tools(request)
    if tools:
        params["tools"] = tools
        # We run the functions ourselves, in the core's loop: never the SDK's automatic calls.
        params["automatic_function_calling"] = types.AutomaticFunctionCallingConfig(disable=True)
        if request.tools and request.tool_choice == "none":
            params["tool_config"] = types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.NONE
                )
            )
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
        calls: list[ToolCall] = []
        said: list[types.Part] = []  # the model's parts, in order: a round sends them back
        sources: dict[str, Source] = {}
        usage = Usage(model=model, provider=self.name)
        blocked = ""
        try:
            stream = await self.client.aio.models.generate_content_stream(
                model=model,
                contents=gemini_contents(request.turns, request.rounds),
                config=gemini_config(request),
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
                    grounding = candidate.grounding_metadata
                    for found in (grounding.grounding_chunks if grounding else None) or []:
                        if found.web is not None and found.web.uri:
                            uri = found.web.uri
                            sources.setdefault(uri, Source(url=uri, title=found.web.title or ""))
                    for part in (candidate.content.parts if candidate.content else None) or []:
                        # Kept verbatim: its text, and signatures on whichever part bears them.
                        said.append(part)
                        if part.function_call is not None and part.function_call.name:
                            f = part.function_call
                            # Gemini 2.5 names no call: ours are unique within the turn.
                            made_up = f"call_{len(request.rounds) + 1}_{len(calls) + 1}"
                            calls.append(
                                ToolCall(
                                    id=f.id or made_up,
                                    name=f.name or "",
                                    arguments=json.dumps(f.args or {}, ensure_ascii=False),
                                )
                            )
                            continue
                        if part.thought or not part.text:
                            continue  # thoughts never reach the chat
                        parts.append(part.text)
                        await on_delta(part.text)
        except ProviderError:
            raise
        except Exception as exc:  # every SDK, transport and parse error is classified
            raise classify_gemini_error(exc) from exc
        text = "".join(parts)
        if not text.strip() and not calls:
            if blocked:
                raise ProviderError(ErrorKind.BLOCKED, blocked)
            raise ProviderError(ErrorKind.BAD_RESPONSE, "empty answer (no candidates)")
        return ModelReply(
            text=text,
            usage=usage,
            tool_calls=calls,
            sources=list(sources.values()),
            raw=said if calls else [],
        )
