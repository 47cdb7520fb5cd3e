"""The floor under N turns at once: N streamed calls through the openai SDK alone, no chatbot.

Run in its own process (as the chatbot server is) against the benchmark's stub model:

    python -m bench.sdk_floor MODEL_URL N     # prints the wall time in seconds
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.providers.openai_chat import build_openai_client


async def bare_sdk_calls(model_url: str, n: int) -> float:
    client = build_openai_client("sk-bench", model_url, 30)

    async def call() -> None:
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "u: @chatbot how are you?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass

    await call()  # warm up the connection pool
    t0 = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(n)))
    wall = time.perf_counter() - t0
    await client.close()
    return wall


if __name__ == "__main__":
    print(f"{asyncio.run(bare_sdk_calls(sys.argv[1], int(sys.argv[2]))):.4f}")
