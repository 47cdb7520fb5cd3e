"""Map the `openai` SDK's exceptions onto the core's failure kinds (Chat and Responses alike)."""

from __future__ import annotations

import asyncio
import json

import openai

from bot.errors import ErrorKind, ProviderError


def _retry_after(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: rare from model servers; fall back to backoff
    return None


def _error_code(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or inner.get("type") or "")
    return str(getattr(exc, "code", "") or "")


def classify_openai_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | asyncio.TimeoutError | TimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, str(exc))
    if isinstance(exc, openai.APIStatusError):
        code = _error_code(exc)
        detail = f"HTTP {exc.status_code} {code}".strip()
        if exc.status_code == 429:
            if code == "insufficient_quota":
                return ProviderError(ErrorKind.QUOTA, detail)
            return ProviderError(ErrorKind.RATE_LIMITED, detail, _retry_after(exc.response.headers))
        if exc.status_code in (401, 403):
            return ProviderError(ErrorKind.AUTH, detail)
        if code in ("context_length_exceeded", "string_above_max_length") or (
            exc.status_code == 400 and "context length" in str(exc.message).lower()
        ):
            return ProviderError(ErrorKind.CONTEXT_TOO_LONG, detail)
        if exc.status_code >= 500:
            return ProviderError(ErrorKind.SERVER, detail)
        return ProviderError(ErrorKind.SERVER, f"{detail}: {exc.message}"[:300])
    if type(exc) is openai.APIError:  # an error event inside a 200 stream
        code = _error_code(exc)
        kind = ErrorKind.RATE_LIMITED if "rate_limit" in code else ErrorKind.SERVER
        return ProviderError(kind, f"stream error {code}: {exc.message}"[:300])
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(ErrorKind.SERVER, f"connection failed: {exc}")
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError | ValueError):
        return ProviderError(ErrorKind.BAD_RESPONSE, str(exc)[:300])
    return ProviderError(ErrorKind.BAD_RESPONSE, f"{type(exc).__name__}: {exc}"[:300])
