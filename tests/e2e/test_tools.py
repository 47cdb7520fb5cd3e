"""Tools end to end: the real app, each provider's real SDK against the loopback stubs, a real
database, real MCP servers over stdio and HTTP, and WebSocket clients in the room.

The model asks for tools in its own wire format; the core runs them and sends the results back;
people who opted in see what runs; every call is stored and counted.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from testing.mcp_servers import (
    CRASH_SERVER,
    MCPHTTPServer,
    stdio_settings,
    toml_table,
    weather_line,
)
from testing.stubs.model_server import ModelServer, Reply, Searched, ToolCalls
from testing.stubs.provider_server import ProviderServer
from tests.helpers import Client, RunningApp, settings_for, start_app
from tests.provider_helpers import PROVIDER_NAMES, model_requests, provider_settings


def tool_outputs(provider: str, body: dict[str, Any]) -> list[str]:
    """The tool results a request sends back to the model, in that provider's wire format."""
    if provider == "openai":
        return [str(m["content"]) for m in body["messages"] if m.get("role") == "tool"]
    if provider == "openai-responses":
        items = body["input"] if isinstance(body["input"], list) else []
        return [str(i["output"]) for i in items if i.get("type") == "function_call_output"]
    found: list[str] = []
    for content in body["contents"]:
        for part in content.get("parts", []):
            response = part.get("functionResponse") or part.get("function_response")
            if response:
                found.append(json.dumps(response["response"], ensure_ascii=False))
    return found


def declared(provider: str, body: dict[str, Any]) -> list[str]:
    """The names of the function tools a request offers."""
    if provider == "openai":
        return [t["function"]["name"] for t in body.get("tools", [])]
    if provider == "openai-responses":
        return [t["name"] for t in body.get("tools", []) if t.get("type") == "function"]
    names: list[str] = []
    for tool in body.get("tools", []):
        for fn in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
            names.append(fn["name"])
    return names


async def ask_streaming(
    app: RunningApp, question: str, room: str = "lobby"
) -> list[dict[str, Any]]:
    """A client that opted in to streaming asks; every frame until the answer."""
    c = await Client.connect(app.ws_url("minho", room=room, stream="1"))
    try:
        await c.say(question)
        await c.answer(timeout=20)
        return c.frames
    finally:
        await c.close()


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_a_tool_round_trip_on_every_provider_seen_by_streaming_clients_only(
    provider: str, pserver: ProviderServer, db_url: str
) -> None:
    pserver.then(
        ToolCalls([("current_time", '{"time_zone": "Asia/Seoul"}')], text="Let me check. "),
        Reply("It is evening in Seoul."),
    )
    app = await start_app(provider_settings(db_url, pserver, provider))
    plain = await Client.connect(app.ws_url("jisu", room="lobby"))
    try:
        frames = await ask_streaming(app, "@chatbot what time is it in Seoul?")
        tool = [f for f in frames if f["type"] == "tool"]
        assert [(f["state"], f["tools"]) for f in tool] == [
            ("running", ["current_time"]),
            ("done", ["current_time"]),
        ]
        assert tool[0]["message"] == "checking the time…" and tool[0]["nickname"] == "chatbot"
        answer = [f for f in frames if f["type"] == "text" and f["nickname"] == "chatbot"][-1]
        assert answer["message"] == "Let me check. \n\nIt is evening in Seoul."
        assert tool[0]["stream"] == answer["stream"]
        # A client that did not opt in sees the question and the answer, nothing else.
        await plain.answer(timeout=10)
        assert {f["type"] for f in plain.frames} == {"text"}

        first, second = model_requests(pserver, provider)
        assert "current_time" in declared(provider, first)
        (output,) = tool_outputs(provider, second)
        assert "Asia/Seoul" in output and "UTC+0900" in output
        store = app.app.state.store
        assert await store.tool_usage("web:lobby") == {"current_time": 1}
        if provider == "openai-responses":
            # The tool output belongs to the chain: the answer's response continues it.
            assert second["previous_response_id"] == pserver.response_ids[0]
            state = await store.state("web:lobby")
            assert state.response_id == pserver.response_ids[1]
    finally:
        await plain.close()
        await app.stop()


async def test_usage_counts_the_tool_calls(model: ModelServer, db_url: str) -> None:
    model.then(
        ToolCalls([("current_time", "{}"), ("current_time", '{"time_zone": "Europe/Paris"}')]),
        Reply("done"),
    )
    app = await start_app(settings_for(db_url, model.url))
    c = await Client.connect(app.ws_url("minho"))
    try:
        await c.say("@chatbot times?")
        await c.answer()
        await c.say("@chatbot usage")
        usage = await c.answer()
        assert "Tool calls today: 2 (current_time 2)" in usage["message"]
        metrics = await asyncio.to_thread(_get, f"{app.http}/metrics")
        assert 'chatbot_tool_calls_total{outcome="ok",tool="current_time"} 2.0' in metrics
    finally:
        await c.close()
        await app.stop()


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as res:
        return str(res.read().decode())


async def test_search_memory_never_crosses_channels_under_concurrency(
    model: ModelServer, db_url: str
) -> None:
    """Ten rooms ask at once; each one's search finds its own words and no other room's."""

    def respond(body: dict[str, Any]) -> Reply | ToolCalls:
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        if results:
            return Reply(f"found: {results[-1]['content']}")
        return ToolCalls([("search_memory", '{"query": "locker code"}')])

    model.default = respond
    app = await start_app(settings_for(db_url, model.url))
    rooms = [f"room{i}" for i in range(10)]
    try:

        async def room(name: str) -> str:
            c = await Client.connect(app.ws_url(f"owner-{name}", room=name))
            try:
                await c.say(f"the locker code of {name} is secret-{name}")
                await c.until(lambda f: f["message"].startswith("the locker code"))
                await c.say("@chatbot what is the locker code?")
                return str((await c.answer(timeout=20))["message"])
            finally:
                await c.close()

        answers = await asyncio.gather(*(room(name) for name in rooms))
        for name, answer in zip(rooms, answers, strict=True):
            assert f"secret-{name}" in answer
            others = [f"secret-{n}" for n in rooms if n != name]
            assert not any(o in answer for o in others), answer
    finally:
        await app.stop()


def mcp_config(tmp_path: Path, *tables: str, tools: str = '["mcp:weather"]') -> str:
    path = tmp_path / "chatbot.toml"
    path.write_text(f"[tags.chatbot]\ntools = {tools}\n\n" + "\n".join(tables))
    return str(path)


async def ready(app: RunningApp) -> None:
    await asyncio.wait_for(app.app.state.tools.ready(), 30)


async def test_an_mcp_server_over_stdio_answers_the_models_call(
    model: ModelServer, db_url: str, tmp_path: Path
) -> None:
    config = mcp_config(tmp_path, toml_table(stdio_settings("weather", web=True)))
    model.then(ToolCalls([("weather__weather", '{"city": "Seoul"}')]), Reply("Clear in Seoul."))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_CONFIG=config))
    try:
        await ready(app)
        frames = await ask_streaming(app, "@chatbot weather in Seoul?")
        assert [f["message"] for f in frames if f["type"] == "tool"][0] == "using weather: weather…"
        first, second = model.chat_requests()
        assert "weather__weather" in declared("openai", first)
        assert tool_outputs("openai", second) == [weather_line("Seoul")]
    finally:
        await app.stop()


async def test_an_mcp_server_over_http_and_one_that_crashes_at_start(
    model: ModelServer, db_url: str, tmp_path: Path
) -> None:
    async with MCPHTTPServer() as http:
        config = mcp_config(
            tmp_path,
            toml_table(http.settings("weather", web=True)),
            toml_table(stdio_settings("broken", script=CRASH_SERVER)),
            tools='["mcp:weather", "mcp:broken", "current_time"]',
        )
        model.then(ToolCalls([("weather__add", '{"a": 2, "b": 40}')]), Reply("42"))
        app = await start_app(settings_for(db_url, model.url, CHATBOT_CONFIG=config))
        try:
            await ready(app)
            servers = app.app.state.tools.servers
            assert servers["weather"].state == "ready" and servers["broken"].state == "failed"
            frames = await ask_streaming(app, "@chatbot what is 2 + 40?")
            assert frames[-1]["message"] == "42"  # the chat is up without the broken server
            first, second = model.chat_requests()
            offered = declared("openai", first)
            assert "weather__add" in offered and "current_time" in offered
            assert not any(name.startswith("broken__") for name in offered)
            assert tool_outputs("openai", second) == ["42"]
        finally:
            await app.stop()


async def test_a_web_room_cannot_reach_a_tool_not_safe_for_it(
    model: ModelServer, db_url: str, tmp_path: Path
) -> None:
    config = mcp_config(tmp_path, toml_table(stdio_settings("weather")))  # web = false
    # The model asks for it anyway (it saw it elsewhere, or guessed): the core refuses to run it.
    model.then(ToolCalls([("weather__env", '{"name": "PATH"}')]), Reply("I cannot."))
    app = await start_app(settings_for(db_url, model.url, CHATBOT_CONFIG=config))
    try:
        await ready(app)
        assert app.app.state.tools.servers["weather"].state == "ready"
        await ask_streaming(app, "@chatbot show me the PATH")
        first, second = model.chat_requests()
        assert not any(name.startswith("weather__") for name in declared("openai", first))
        (output,) = tool_outputs("openai", second)
        assert output.startswith("error:") and "no tool named 'weather__env'" in output
    finally:
        await app.stop()


@pytest.mark.parametrize("provider", ["openai-responses", "gemini"])
async def test_hosted_web_search_lists_its_sources_under_the_answer(
    provider: str, pserver: ProviderServer, db_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text("[tags.chatbot]\nweb_search = true\n")
    pserver.then(
        Searched(
            "Rain in Seoul today.",
            sources=[
                ("https://weather.example/seoul", "Seoul weather"),
                ("https://kma.example/", "KMA"),
            ],
            query="seoul weather today",
        )
    )
    settings = provider_settings(db_url, pserver, provider, CHATBOT_CONFIG=str(config))
    app = await start_app(settings)
    try:
        frames = await ask_streaming(app, "@chatbot weather in Seoul today?")
        answer = frames[-1]["message"]
        assert answer == (
            "Rain in Seoul today.\n\nSources:\n"
            "- [Seoul weather](https://weather.example/seoul)\n- [KMA](https://kma.example/)"
        )
        (request,) = model_requests(pserver, provider)
        if provider == "openai-responses":
            assert {"type": "web_search"} in request["tools"]
        else:
            assert any("googleSearch" in t or "google_search" in t for t in request["tools"])
        stored = await app.app.state.store.recent("web:lobby", 1)
        assert stored[0].text == answer  # memory keeps what people saw
    finally:
        await app.stop()
