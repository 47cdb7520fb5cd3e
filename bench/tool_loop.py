"""What the tool loop costs: the core's time per tool round, and a 3-round turn against the floor.

    python -m bench.tool_loop [--turns 200]

1. Core time per tool round. The real core and SQLStore (SQLite), an instant in-process model
   and the real `current_time` tool: a turn whose model asks for the tool twice and then answers
   (3 rounds) against a turn it answers at once (1 round), one after the other, interleaved.
   (3-round − 1-round) / 2, less the tool's own time (measured alone), is what one round costs
   the core: the loop, the rounds rendered into the next request, the status updates, storing
   the calls.
2. A 3-round turn against the bare-SDK floor. The stub model in a process of its own streams two
   rounds of tool calls, then the answer, over the real wire. Floor: the bare openai SDK making
   the same three streamed calls (tools declared, the calls read from the stream, the tool run
   inline, its result appended), nothing else. Ours: the whole turn through the core (store the
   question, history, three rounds through our provider, store the calls and the answer,
   deliver). Both medians and their ratio, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openai

from bot.context import ModelRequest
from bot.delivery import ReplyMeta
from bot.personas import default_persona
from bot.providers.base import DeltaSink, ModelReply, Provider
from bot.providers.openai_chat import OpenAIChatProvider, build_openai_client
from bot.service import ChatService
from bot.settings import BotSettings
from bot.tools.base import ToolCall, ToolContext
from bot.tools.builtin import CurrentTime, builtin_tools
from bot.tools.toolbox import ToolBox
from bot.types import Author, IncomingMessage, Usage
from memory.store import SQLStore

ROOM = "web:bench"
ARGS = '{"time_zone": "Asia/Seoul"}'
ROUNDS = 3  # two that ask for the tool, then the answer


class ScriptedModel:
    """Instant: asks for current_time until `asks` rounds are done, then answers."""

    name = "instant"

    def __init__(self, asks: int):
        self.asks = asks

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        usage = Usage(10, 1, 11, "instant", "instant")
        if len(request.rounds) < self.asks:
            call = ToolCall(f"call_{len(request.rounds)}", "current_time", ARGS)
            return ModelReply("", usage, tool_calls=[call])
        await on_delta("ok")
        return ModelReply("ok", usage)


class NullTarget:
    max_length = 1_000_000

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, text: str, meta: ReplyMeta) -> None:
        return None


def service_for(store: SQLStore, provider: Provider) -> ChatService:
    settings = BotSettings()
    persona = default_persona(settings)
    tools = ToolBox(builtin_tools(store), [], settings.name)
    return ChatService(store, lambda _: provider, settings, {persona.name: persona}, tools=tools)


async def one_turn(service: ChatService, i: int) -> float:
    msg = IncomingMessage("web", ROOM, None, Author("u", "u"), f"@chatbot what time is it? {i}")
    t0 = time.perf_counter()
    received = await service.receive(msg, NullTarget())
    assert received.answer is not None
    await received.answer
    return time.perf_counter() - t0


async def core_per_round(turns: int, workdir: str) -> dict[str, float]:
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{os.path.join(workdir, 'core.db')}")
    await store.create_schema()
    plain, looping = service_for(store, ScriptedModel(0)), service_for(store, ScriptedModel(2))
    one: list[float] = []
    three: list[float] = []
    try:
        for i in range(20):  # warm-up: imports, statement caches, zoneinfo
            await one_turn(plain, i)
            await one_turn(looping, i)
        for i in range(turns):
            one.append(await one_turn(plain, i))
            three.append(await one_turn(looping, i))
    finally:
        await store.close()
    tool = CurrentTime()
    context = ToolContext(ROOM, "u")
    alone: list[float] = []
    for _ in range(1000):
        t0 = time.perf_counter()
        await tool.run(json.loads(ARGS), context)
        alone.append(time.perf_counter() - t0)
    m1, m3, mt = (statistics.median(x) * 1000 for x in (one, three, alone))
    return {"one": m1, "three": m3, "tool": mt, "round": (m3 - m1) / 2 - mt}


# -- against the bare SDK, over the wire --------------------------------------------------------


def stub_reply(body: dict[str, Any]) -> Any:
    from testing.stubs.model_server import Reply, ToolCalls

    asked = sum(1 for m in body["messages"] if m.get("role") == "tool")
    if asked < ROUNDS - 1:
        return ToolCalls([("current_time", ARGS)])
    return Reply("It is evening in Seoul.")


async def serve_stub() -> None:
    """The stub model, in this process of its own: says where it listens, then serves."""
    from testing.stubs.model_server import ModelServer

    server = await ModelServer().start()
    server.default = stub_reply
    print(server.url, flush=True)
    await asyncio.Event().wait()


TOOL_SPEC = {
    "type": "function",
    "function": {
        "name": "current_time",
        "description": "The current date and time in a time zone.",
        "parameters": {"type": "object", "properties": {"time_zone": {"type": "string"}}},
    },
}


async def bare_turn(client: openai.AsyncOpenAI) -> float:
    """Three streamed calls with the bare SDK: what any tool-calling bot must do at least."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are chatbot."},
        {"role": "user", "content": "u: what time is it?"},
    ]
    t0 = time.perf_counter()
    for _ in range(ROUNDS):
        stream = await client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=messages,  # type: ignore[arg-type]
            tools=[TOOL_SPEC],  # type: ignore[list-item]
            stream=True,
        )
        assert isinstance(stream, openai.AsyncStream)
        calls: dict[int, dict[str, str]] = {}
        async for chunk in stream:
            if not chunk.choices:
                continue
            for tc in chunk.choices[0].delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
        if not calls:
            break
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in calls.values()
                ],
            }
        )
        for c in calls.values():
            zone = json.loads(c["arguments"]).get("time_zone", "UTC")
            now = datetime.now(ZoneInfo(zone))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": f"{now:%H:%M}"})
    return time.perf_counter() - t0


async def against_floor(turns: int, workdir: str) -> dict[str, float]:
    stub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.tool_loop", "--stub", stdout=asyncio.subprocess.PIPE
    )
    assert stub.stdout is not None
    url = (await stub.stdout.readline()).decode().strip()
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{os.path.join(workdir, 'wire.db')}")
    try:
        await store.create_schema()
        client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=0)
        provider = OpenAIChatProvider(build_openai_client("sk-bench", url, 30))
        service = service_for(store, provider)
        floor: list[float] = []
        ours: list[float] = []
        for i in range(10):  # warm-up: connections, the SDKs' lazy set-up
            await bare_turn(client)
            await one_turn(service, i)
        for i in range(turns):
            floor.append(await bare_turn(client))
            ours.append(await one_turn(service, i))
        await client.close()
        await provider.aclose()
    finally:
        await store.close()
        stub.terminate()
        await stub.wait()
    f, o = statistics.median(floor) * 1000, statistics.median(ours) * 1000
    return {"floor": f, "ours": o, "ratio": o / f}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)  # its process
    args = parser.parse_args()
    if args.stub:
        await serve_stub()
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        core = await core_per_round(args.turns, workdir)
        wire = await against_floor(args.turns, workdir)
    print("1. the core's time per tool round (instant model, SQLite), median of", args.turns)
    print(f"   turn with 1 round:  {core['one']:.2f} ms")
    print(f"   turn with 3 rounds: {core['three']:.2f} ms (the tool alone: {core['tool']:.3f} ms)")
    print(f"   per tool round:     {core['round']:.2f} ms")
    print(
        "2. a turn of 3 rounds over the wire (stub model in its own process), median of", args.turns
    )
    print(f"   bare openai SDK, the same 3 calls: {wire['floor']:.2f} ms")
    print(f"   the whole turn through the core:   {wire['ours']:.2f} ms")
    print(f"   ratio: {wire['ratio']:.2f}x (+{wire['ours'] - wire['floor']:.2f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
