"""One failure model for every provider: a few kinds, each with its own short user line."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    NOT_CONFIGURED = "not_configured"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota_exhausted"
    CONTEXT_TOO_LONG = "context_too_long"
    AUTH = "auth_failed"
    SERVER = "provider_error"
    SERVER_FAILURE = "server_error"  # our own bug: the turn failed for an unexpected reason
    BAD_RESPONSE = "bad_response"
    TIMEOUT = "timed_out"
    BLOCKED = "blocked"
    STORAGE = "storage_unavailable"
    NOT_STORED = "not_stored"  # the store refused this one message (a bug, a bad value)
    THROTTLED = "too_many_turns"  # one source asked more than its share (bot/limits.py)
    OVER_LIMIT = "over_limit"  # a spending limit is reached (bot/spending.py says which)
    USAGE = "usage_hint"  # not a failure of anything: the message needs more text
    FILE_REFUSED = "file_refused"  # an attached file was not read (size, type, count, host)
    NO_VISION = "cannot_see"  # the model reads text only: its images were named, not shown


USER_LINES: dict[ErrorKind, str] = {
    ErrorKind.NOT_CONFIGURED: (
        "No model provider is configured. Set OPENAI_API_KEY (or GEMINI_API_KEY with "
        "CHATBOT_PROVIDER=gemini) in the environment or .env, then restart; "
        "`chatbot check` shows what is missing."
    ),
    ErrorKind.RATE_LIMITED: "The model is rate-limited right now. Please try again in a moment.",
    ErrorKind.QUOTA: "The model's quota is used up. An admin needs to check the provider's billing.",
    ErrorKind.CONTEXT_TOO_LONG: (
        "This conversation is too long for the model, even shortened. Try a shorter message."
    ),
    ErrorKind.AUTH: "The model provider rejected our credentials. An admin needs to check the API key.",
    ErrorKind.SERVER: "The model provider had an error. Please try again.",
    ErrorKind.BAD_RESPONSE: "The model provider sent an answer I could not read. Please try again.",
    ErrorKind.TIMEOUT: "The model timed out without answering. Please try again.",
    ErrorKind.BLOCKED: "The model declined to answer this (blocked by its safety filter).",
    ErrorKind.USAGE: "Say something after the tag, for example `@chatbot 안녕?`",
    ErrorKind.STORAGE: "I could not save that message (the database is unavailable). Please resend.",
    ErrorKind.NOT_STORED: "That message could not be stored, so it was not sent. Please resend.",
    ErrorKind.THROTTLED: (
        "Too many questions from your network right now. Please wait a minute and ask again."
    ),
    ErrorKind.SERVER_FAILURE: "Something went wrong on my side while answering. Please try again.",
    ErrorKind.FILE_REFUSED: "A file could not be read.",
    ErrorKind.NO_VISION: "This model cannot read images, so I answered from the text only.",
    ErrorKind.OVER_LIMIT: "A spending limit is reached here; an admin can say when it resets.",
}


class ProviderError(Exception):
    """A provider failure, already classified. `retry_after` is in seconds when known."""

    def __init__(self, kind: ErrorKind, detail: str = "", retry_after: float | None = None):
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after

    @property
    def user_line(self) -> str:
        return USER_LINES[self.kind]
