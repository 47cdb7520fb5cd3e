"""The floor under N turns at once: N streamed calls through the openai SDK alone, no chatbot.

Each call has the shape OpenAIChatProvider sends. Run in processes of their own (as the server
and its model workers are) against the benchmark's stub model:

    python -m bench.sdk_floor MODEL_URL N            # prints the wall time in seconds
    python -m bench.sdk_floor MODEL_URL N --warm     # after one unmeasured burst of N
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.providers.openai_chat import build_openai_client


async def bare_sdk_calls(model_url: str, n: int, warm: bool) -> float:
    client = build_openai_client("sk-bench", model_url, 30)
    messages = [{"role": "user", "content": "u: @chatbot how are you?"}]

    async def call() -> None:
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=[],
            extra_body={"messages": messages},
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass

    await call()  # the first connection
    if warm:
        await asyncio.gather(*(call() for _ in range(n)))  # a pool of n connections
    t0 = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(n)))
    wall = time.perf_counter() - t0
    await client.close()
    return wall


if __name__ == "__main__":
    url, n = sys.argv[1], int(sys.argv[2])
    print(f"{asyncio.run(bare_sdk_calls(url, n, '--warm' in sys.argv)):.4f}")
