"""The floor under N turns at once: N model calls through our OpenAI provider alone.

The same streamed calls the service makes (OpenAIChatProvider: the openai SDK and our event
reader), with no chat, no database and no delivery, in a process of its own against the
benchmark's stub model (bench/run.py runs it with the measured checkout's code as cwd):

    python -m bench.sdk_floor MODEL_URL N            # prints the wall time in seconds
    python -m bench.sdk_floor MODEL_URL N --warm     # after one unmeasured burst of N
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.context import ChatTurn, ModelRequest
from bot.providers.base import ignore_delta
from bot.providers.openai_chat import OpenAIChatProvider, build_openai_client
from bot.settings import ModelSettings


async def bare_calls(model_url: str, n: int, warm: bool) -> float:
    provider = OpenAIChatProvider(build_openai_client("sk-bench", model_url, 30))
    request = ModelRequest(
        channel="web:bench",
        system="You are chatbot.",
        turns=[ChatTurn("user", "u: @chatbot how are you?")],
        settings=ModelSettings(),
    )

    async def call() -> None:
        await provider.complete(request, ignore_delta)

    await call()  # the first connection, and the SDK's lazy set-up
    if warm:
        await asyncio.gather(*(call() for _ in range(n)))  # a pool of n connections
    t0 = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(n)))
    wall = time.perf_counter() - t0
    await provider.aclose()
    return wall


if __name__ == "__main__":
    url, n = sys.argv[1], int(sys.argv[2])
    print(f"{asyncio.run(bare_calls(url, n, '--warm' in sys.argv)):.4f}")
