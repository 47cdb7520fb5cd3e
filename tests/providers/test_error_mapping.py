"""Edge cases of the error maps that the wire tests do not reach, on the SDKs' own exceptions."""

from __future__ import annotations

import httpx2
import openai
import pytest
from google.genai import errors

from bot.errors import ErrorKind
from bot.providers.gemini_errors import classify_gemini_error
from bot.providers.openai_responses import is_chain_lost


def gemini(code: int, status: str, message: str, details: list | None = None) -> errors.APIError:
    body: dict = {"error": {"code": code, "status": status, "message": message}}
    if details:
        body["error"]["details"] = details
    cls = errors.ClientError if code < 500 else errors.ServerError
    return cls(code, body, None)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            gemini(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
            "auth",
        ),
        (gemini(403, "PERMISSION_DENIED", "Permission denied"), "auth"),
        (gemini(503, "UNAVAILABLE", "The model is overloaded."), "server"),
        (gemini(504, "DEADLINE_EXCEEDED", "Deadline exceeded"), "timeout"),
        (gemini(400, "INVALID_ARGUMENT", "Invalid value at 'contents'"), "server"),
        (TimeoutError(), "timeout"),
        (errors.UnknownApiResponseError("Failed to parse response as JSON"), "bad"),
    ],
)
def test_gemini_kinds(exc: BaseException, kind: str) -> None:
    expected = {
        "auth": ErrorKind.AUTH,
        "server": ErrorKind.SERVER,
        "timeout": ErrorKind.TIMEOUT,
        "bad": ErrorKind.BAD_RESPONSE,
    }[kind]
    assert classify_gemini_error(exc).kind is expected


def test_gemini_rate_limit_reads_retry_info() -> None:
    exc = gemini(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
    )
    err = classify_gemini_error(exc)
    assert err.kind is ErrorKind.RATE_LIMITED and err.retry_after == 7.0


def _status(code: int, error: dict) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    response = httpx2.Response(code, json={"error": error}, request=request)
    cls = openai.NotFoundError if code == 404 else openai.BadRequestError
    return cls(error.get("message", ""), response=response, body={"error": error})


def test_chain_lost_is_recognised_in_its_forms() -> None:
    assert is_chain_lost(_status(400, {"code": "previous_response_not_found", "message": "x"}))
    assert is_chain_lost(_status(404, {"message": "Previous response with id 'r' not found."}))
    assert is_chain_lost(_status(400, {"param": "previous_response_id", "message": "bad"}))
    assert not is_chain_lost(_status(400, {"code": "context_length_exceeded", "message": "long"}))
    assert not is_chain_lost(ValueError("previous response not found"))
