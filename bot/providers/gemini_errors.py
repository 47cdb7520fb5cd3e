"""Map `google-genai` exceptions onto the core's failure kinds, the same ones OpenAI's map to."""

from __future__ import annotations

import asyncio
import json
import re

from google.genai import errors

from bot.errors import ErrorKind, ProviderError

_TOO_LONG = ("exceeds the maximum number of tokens", "too long", "token count", "context length")
# Gemini says "You exceeded your current quota" for per-minute limits too; a daily or
# zero limit (free tier not available, billing off) is the one that waiting will not fix.
_HARD_QUOTA = ("perday", "per_day", "limit: 0", "billing account", "billing is not enabled")


def _retry_delay(exc: errors.APIError) -> float | None:
    """Retry-After header if any, else the `RetryInfo.retryDelay` ("37s") in the details."""
    headers = getattr(exc.response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    found = re.search(r"retryDelay['\"]?\s*:\s*['\"]([\d.]+)s", json.dumps(exc.details))
    return float(found.group(1)) if found else None


def classify_gemini_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | TimeoutError) or "Timeout" in type(exc).__name__:
        return ProviderError(ErrorKind.TIMEOUT, str(exc)[:300])
    if isinstance(exc, errors.APIError):
        code = exc.code or 0
        status = str(exc.status or "")
        message = str(exc.message or "")
        everything = f"{message} {json.dumps(exc.details, default=str)}".lower()
        detail = f"HTTP {code} {status}: {message}"[:300]
        if code == 429 or status == "RESOURCE_EXHAUSTED":
            if any(mark in everything for mark in _HARD_QUOTA):
                return ProviderError(ErrorKind.QUOTA, detail)
            return ProviderError(ErrorKind.RATE_LIMITED, detail, _retry_delay(exc))
        if (
            code in (401, 403)
            or "api key not valid" in everything
            or "api_key_invalid" in everything
        ):
            return ProviderError(ErrorKind.AUTH, detail)
        if code == 400 and any(mark in everything for mark in _TOO_LONG):
            return ProviderError(ErrorKind.CONTEXT_TOO_LONG, detail)
        if code == 504 or status == "DEADLINE_EXCEEDED":
            return ProviderError(ErrorKind.TIMEOUT, detail)
        return ProviderError(ErrorKind.SERVER, detail)
    if isinstance(exc, ConnectionError | OSError) or "Connect" in type(exc).__name__:
        return ProviderError(ErrorKind.SERVER, f"connection failed: {exc}"[:300])
    return ProviderError(ErrorKind.BAD_RESPONSE, f"{type(exc).__name__}: {exc}"[:300])
