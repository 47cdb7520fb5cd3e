"""One failure model: each kind, for each provider, gets its own line and keeps the message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.context import ModelRequest
from bot.errors import USER_LINES, ErrorKind
from bot.providers.gemini import gemini_config
from bot.settings import ModelSettings
from testing.chat_client import has_message
from testing.stubs.model_server import Garbage, Hang, Reply, Status
from testing.stubs.provider_server import ProviderServer
from tests.helpers import Client, start_app
from tests.provider_helpers import PROVIDER_NAMES, model_requests, provider_settings, stored


def openai_error(code: int, kind: str, message: str) -> Status:
    return Status(
        code, {"error": {"message": message, "type": "invalid_request_error", "code": kind}}
    )


def gemini_error(code: int, status: str, message: str, details: list[Any] | None = None) -> Status:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return Status(code, {"error": error})


def rate_limited(provider: str) -> Status:
    if provider == "gemini":
        status = gemini_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
                }
            ],
        )
    else:
        status = openai_error(429, "rate_limit_exceeded", "Rate limit reached for requests")
    status.headers = {"Retry-After": "0.2"}
    return status


def quota(provider: str) -> Status:
    if provider == "gemini":
        return gemini_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota. limit: 0",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
                }
            ],
        )
    return openai_error(429, "insufficient_quota", "You exceeded your current quota")


def auth(provider: str) -> Status:
    if provider == "gemini":
        return gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication.")
    return openai_error(401, "invalid_api_key", "Incorrect API key provided")


def too_long(provider: str) -> Status:
    if provider == "gemini":
        return gemini_error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        )
    return openai_error(
        400, "context_length_exceeded", "This model's maximum context length is 8192 tokens."
    )


def server_error(provider: str) -> Status:
    if provider == "gemini":
        return gemini_error(500, "INTERNAL", "An internal error has occurred.")
    return openai_error(500, "server_error", "The server had an error")


async def ask(app: Any, text: str) -> dict[str, Any]:
    c = await Client.connect(app.ws_url("soyeon"))
    try:
        await c.say(text)
        return await c.answer(timeout=15)
    finally:
        await c.close()


FAILS = {
    "rate-limited-persists": (rate_limited, ErrorKind.RATE_LIMITED, 3),
    "quota": (quota, ErrorKind.QUOTA, 1),
    "auth": (auth, ErrorKind.AUTH, 1),
    "server-persists": (server_error, ErrorKind.SERVER, 3),
    "garbage": (lambda p: Garbage(), ErrorKind.BAD_RESPONSE, 1),
}


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
@pytest.mark.parametrize("case", list(FAILS))
async def test_failure_kind_line_keeps_message_and_next_turn_works(
    db_url: str, pserver: ProviderServer, provider: str, case: str
) -> None:
    make, kind, calls = FAILS[case]
    pserver.then(*[make(provider) for _ in range(calls)])
    app = await start_app(provider_settings(db_url, pserver, provider))
    try:
        failed = await ask(app, f"@chatbot {case} 실패")
        assert len(model_requests(pserver, provider)) == calls
        after = await ask(app, "@chatbot 다시")
        kept = [m["message"] for m in await stored(app)]
    finally:
        await app.stop()
    assert failed["error"] == kind.value
    assert failed["message"] == USER_LINES[kind]
    assert after.get("error") is None and after["message"].startswith("answer")
    assert kept[0] == f"@chatbot {case} 실패" and "@chatbot 다시" in kept


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_timeout_is_its_own_line(db_url: str, pserver: ProviderServer, provider: str) -> None:
    pserver.then(Hang(seconds=5))
    app = await start_app(provider_settings(db_url, pserver, provider, CHATBOT_TIMEOUT="1"))
    try:
        failed = await ask(app, "@chatbot 느려")
        kept = [m["message"] for m in await stored(app)]
    finally:
        await app.stop()
    assert failed["error"] == ErrorKind.TIMEOUT.value
    assert failed["message"] == USER_LINES[ErrorKind.TIMEOUT]
    assert kept == ["@chatbot 느려"]


@pytest.mark.parametrize("provider", ["openai", "openai-responses"])
async def test_a_tags_own_timeout_reaches_the_sdk_call(
    db_url: str,
    pserver: ProviderServer,
    provider: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service-wide timeout is 30 s; the tag says 1 s: the SDK gives up after 1 s (its own
    timeout error), long before the core's overall bound of 3x the tag's timeout."""
    config = tmp_path / "chatbot.toml"
    config.write_text("[tags.chatbot]\ntimeout = 1\n")
    pserver.then(Hang(seconds=10))
    settings = provider_settings(
        db_url, pserver, provider, CHATBOT_TIMEOUT="30", CHATBOT_CONFIG=str(config)
    )
    app = await start_app(settings)
    caplog.set_level(logging.WARNING, logger="bot.service")
    try:
        failed = await ask(app, "@chatbot 느려")
    finally:
        await app.stop()
    assert failed["error"] == ErrorKind.TIMEOUT.value
    errors = [r.getMessage() for r in caplog.records if "provider error" in r.getMessage()]
    assert errors and "overall bound" not in errors[0]  # the SDK's timeout, not the core's


def test_gemini_gets_the_tags_timeout_with_each_call() -> None:
    request = ModelRequest(
        channel="web:x", system="s", turns=[], settings=ModelSettings(provider="gemini", timeout=2)
    )
    options = gemini_config(request).http_options
    assert options is not None and options.timeout == 6000  # the whole stream: 3x, in ms


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
@pytest.mark.parametrize("case", ["rate-limited", "server"])
async def test_transient_failures_are_retried(
    db_url: str, pserver: ProviderServer, provider: str, case: str
) -> None:
    pserver.then(rate_limited(provider) if case == "rate-limited" else server_error(provider))
    pserver.then(Reply("다시 해서 성공"))
    app = await start_app(provider_settings(db_url, pserver, provider))
    try:
        answer = await ask(app, "@chatbot 재시도")
    finally:
        await app.stop()
    assert answer.get("error") is None and answer["message"] == "다시 해서 성공"
    reqs = [r for r in pserver.requests if r.body]
    assert len(model_requests(pserver, provider)) == 2
    if case == "rate-limited":
        assert reqs[1].at - reqs[0].at >= 0.15  # it waited for Retry-After


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_context_too_long_retries_once_with_less_history(
    db_url: str, pserver: ProviderServer, provider: str
) -> None:
    app = await start_app(
        provider_settings(db_url, pserver, provider, CHATBOT_MAX_HISTORY_TOKENS="260")
    )
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        for i in range(6):
            line = f"plain chat line number {i}, long enough to cost some tokens here"
            await c.say(line)
            await c.until(has_message(line))  # stored
        await c.close()
        pserver.then(too_long(provider), Reply("짧게 성공"))
        answer = await ask(app, "@chatbot 요약해줘")
        pserver.then(too_long(provider), too_long(provider))
        failed = await ask(app, "@chatbot 또 요약해줘")
    finally:
        await app.stop()
    assert answer.get("error") is None and answer["message"] == "짧게 성공"
    first, second = model_requests(pserver, provider)[:2]
    assert size(first, provider) > size(second, provider) >= 1
    assert failed["error"] == ErrorKind.CONTEXT_TOO_LONG.value
    assert failed["message"] == USER_LINES[ErrorKind.CONTEXT_TOO_LONG]
    assert len(model_requests(pserver, provider)) == 4  # once shrunk, never again


def size(body: dict[str, Any], provider: str) -> int:
    if provider == "gemini":
        return sum(len(c["parts"]) for c in body["contents"])
    return len(body.get("messages") or body.get("input") or [])
