"""The provider used when no credentials are set: the service still runs and says how to fix it."""

from __future__ import annotations

from bot.context import ModelRequest
from bot.errors import ErrorKind, ProviderError
from bot.providers.base import DeltaSink, ModelReply


class UnconfiguredProvider:
    def __init__(self, name: str, missing: str):
        self.name = name
        self.missing = missing

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        raise ProviderError(ErrorKind.NOT_CONFIGURED, self.missing)
