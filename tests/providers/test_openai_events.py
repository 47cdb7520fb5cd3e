"""Chat Completions streams read as plain events (bot/providers/openai_events.py), on the wire.

The stub sends hand-written server-sent-event bodies; the real openai SDK makes the request and
hands the stream over. What a server may legally send must still make one answer.
"""

from __future__ import annotations

import json
from typing import Any

from bot.errors import USER_LINES, ErrorKind
from testing.stubs.model_server import Garbage, ModelServer, Reply
from tests.helpers import RunningApp
from tests.providers.test_failure_kinds import ask


def chunk(content: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4.1-2025-04-14",
        "choices": [{"index": 0, "delta": delta}],
        **extra,
    }


def sse(body: str) -> Garbage:
    return Garbage(body=body, content_type="text/event-stream")


async def test_comments_event_names_split_data_and_a_missing_last_blank_line(
    app: RunningApp, model: ModelServer
) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    split = json.dumps(chunk("둘 "), ensure_ascii=False).replace(', "model"', ',\ndata: "model"')
    body = (
        ": keep-alive\n\n"
        f"event: message\ndata: {json.dumps(chunk('하나 '), ensure_ascii=False)}\n\n"
        f"data: {split}\n\n"  # one event's JSON over two data: lines
        f"data:{json.dumps(chunk('셋'), ensure_ascii=False)}\r\n\r\n"  # no space, CRLF
        f"data: {json.dumps({**chunk(), 'choices': [], 'usage': usage})}\n\n"
        "data: [DONE]"  # the body ends without the blank line
    )
    model.then(sse(body))
    answer = await ask(app, "@chatbot 세어 봐")
    rows = await app.app.state.store.recent("web:lobby", 5)
    assert answer.get("error") is None and answer["message"] == "하나 둘 셋"
    assert rows[-1].usage is not None
    assert (rows[-1].usage.input_tokens, rows[-1].usage.output_tokens) == (5, 3)
    assert rows[-1].usage.model == "gpt-4.1-2025-04-14"


async def test_nothing_after_done_is_read_as_the_answer(
    app: RunningApp, model: ModelServer
) -> None:
    body = f"data: {json.dumps(chunk('끝'))}\n\ndata: [DONE]\n\ndata: {json.dumps(chunk('더'))}\n\n"
    model.then(sse(body))
    assert (await ask(app, "@chatbot 끝?"))["message"] == "끝"


async def test_an_error_event_in_the_stream_is_a_provider_error(
    app: RunningApp, model: ModelServer
) -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    # Retried like any server error (nothing was streamed yet), then given up.
    model.then(*[sse(f"data: {json.dumps(error)}\n\n")] * 3)
    failed = await ask(app, "@chatbot 괜찮아?")
    model.then(Reply("이제 괜찮아"))
    fine = await ask(app, "@chatbot 지금은?")
    kept = [m.text for m in await app.app.state.store.recent("web:lobby", 10)]
    assert failed["error"] == ErrorKind.SERVER.value
    assert failed["message"] == USER_LINES[ErrorKind.SERVER]
    assert len(model.chat_requests()) == 4
    assert fine["message"] == "이제 괜찮아"
    assert "@chatbot 괜찮아?" in kept


async def test_an_event_that_is_not_an_object_is_a_bad_response(
    app: RunningApp, model: ModelServer
) -> None:
    model.then(sse('data: ["not", "a", "chunk"]\n\n'))
    failed = await ask(app, "@chatbot 뭐야?")
    assert failed["error"] == ErrorKind.BAD_RESPONSE.value
