"""The bounded retry policy every provider shares."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.errors import ErrorKind, ProviderError
from bot.providers.base import ModelReply
from bot.settings import RetrySettings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


async def call_with_retries(
    attempt: Callable[[bool], Awaitable[ModelReply]],
    retry: RetrySettings,
    *,
    streamed: Callable[[], bool],
    sleep: Sleep = asyncio.sleep,
) -> ModelReply:
    """Run `attempt(shrink)` until it answers or the policy gives up.

    Rate limits wait for Retry-After (never longer than `retry.max_wait`); server errors back
    off; a context that is too long is retried once with `shrink=True`. Nothing is retried once
    part of the answer has reached the chat, so nobody sees an answer twice.
    """
    shrink = False
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt(shrink)
        except ProviderError as err:
            if streamed() or tries >= retry.max_attempts:
                raise
            if err.kind is ErrorKind.CONTEXT_TOO_LONG and not shrink:
                shrink = True
                continue
            if err.kind is ErrorKind.RATE_LIMITED:
                wait = err.retry_after
                if wait is None:
                    wait = retry.base_backoff * 2 ** (tries - 1)
                if wait > retry.max_wait:
                    raise
            elif err.kind is ErrorKind.SERVER:
                wait = retry.base_backoff * 2 ** (tries - 1)
            else:
                raise
            log.info("provider said %s; retry %d in %.2fs", err.kind.value, tries, wait)
            await sleep(wait)
