"""MCP servers through the real `mcp` SDK: real servers (testing/mcp_servers) over stdio and
streamable HTTP, started, listed, called, failing, hanging, crashing and dying."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent
from mcp_types import TextResourceContents as TextResource

from bot.tools.base import ToolCall, ToolContext
from bot.tools.mcp import MCPServer, MCPServerSettings, MCPToolFailed, _result_text, _tool_name
from bot.tools.runner import run_calls
from testing.mcp_servers import (
    CRASH_SERVER,
    HANG_SERVER,
    TOOLS,
    MCPHTTPServer,
    stdio_settings,
    toml_table,
    weather_line,
)

CONTEXT = ToolContext(channel="web:lobby", author_id="web:minho")


@asynccontextmanager
async def started(settings: MCPServerSettings, timeout: float = 20.0) -> AsyncIterator[MCPServer]:
    server = MCPServer(settings)
    await server.start(timeout)
    try:
        yield server
    finally:
        await server.stop()


def state_of(server: MCPServer) -> str:
    """Read afresh (mypy would keep the state an earlier assert narrowed it to)."""
    return server.state


def gone(pid: int) -> bool:
    """Exited and reaped: no process at all (a zombie still has its /proc entry)."""
    return not Path(f"/proc/{pid}").exists()


async def until(condition: object, seconds: float = 10.0) -> None:
    """Wait for `condition()` to hold (the server notices a death on its own, soon)."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the condition did not come true"
        await asyncio.sleep(0.02)


async def pid_of(server: MCPServer) -> int:
    return int(await server.call("pid", {}))


def call(name: str, arguments: str = "{}", id: str = "c1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


# stdio


async def test_a_stdio_server_starts_and_lists_its_tools_with_names_descriptions_and_schemas() -> (
    None
):
    async with started(stdio_settings("weather")) as server:
        assert server.state == "ready" and server.error is None
        assert set(server.tools) == {f"weather__{t}" for t in TOOLS}
        tool = server.tools["weather__weather"]
        assert tool.remote_name == "weather"
        assert tool.spec.name == "weather__weather"
        assert tool.spec.description == "The weather in a city right now."
        assert tool.spec.parameters["type"] == "object"
        assert tool.spec.parameters["properties"]["city"]["type"] == "string"
        assert tool.spec.parameters["required"] == ["city"]
        add = server.tools["weather__add"].spec.parameters
        assert add["properties"]["a"]["type"] == "integer" and set(add["required"]) == {"a", "b"}
        assert tool.safe_for_web is False  # unless the operator says `web = true`
    assert state_of(server) == "stopped"


async def test_calls_return_the_tools_text() -> None:
    async with started(stdio_settings("weather")) as server:
        tools = server.tools
        assert await tools["weather__weather"].run({"city": "Seoul"}, CONTEXT) == weather_line(
            "Seoul"
        )
        assert await server.call("add", {"a": 2, "b": 40}) == "42"
        results = await run_calls(
            [
                call("weather__weather", '{"city": "Busan"}', "c1"),
                call("weather__add", '{"a": 1, "b": 2}', "c2"),
            ],
            tools,
            CONTEXT,
            timeout=10,
        )
        assert [r.output for r in results] == [weather_line("Busan"), "3"]
        assert [r.error for r in results] == [None, None]


async def test_the_configured_env_reaches_the_server_and_ours_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ours-never-theirs")
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgresql://u:secret@db/x")
    settings = stdio_settings("weather", env={"GREETING": "hello from the config"})
    async with started(settings) as server:
        assert await server.call("env", {"name": "GREETING"}) == "hello from the config"
        assert await server.call("env", {"name": "OPENAI_API_KEY"}) == "<unset>"
        assert await server.call("env", {"name": "CHATBOT_DATABASE_URL"}) == "<unset>"
        assert await server.call("env", {"name": "PATH"}) == os.environ["PATH"]  # what it needs
    async with started(stdio_settings("bare")) as server:  # no `env` at all: the same
        assert await server.call("env", {"name": "OPENAI_API_KEY"}) == "<unset>"
        assert await server.call("env", {"name": "HOME"}) == os.environ["HOME"]


async def test_a_tool_error_is_mcptoolfailed_and_an_error_result_the_model_can_read() -> None:
    async with started(stdio_settings("weather")) as server:
        with pytest.raises(MCPToolFailed, match="the tool broke on purpose"):
            await server.call("fails", {})
        [result] = await run_calls([call("weather__fails")], server.tools, CONTEXT, timeout=10)
        assert result.error == "failed"
        assert result.output.startswith("error: ")
        assert "the tool broke on purpose" in result.output
        # Arguments the tool's schema refuses: the server says so, the model reads why.
        [bad] = await run_calls(
            [call("weather__add", '{"a": "many"}')], server.tools, CONTEXT, timeout=10
        )
        assert bad.error == "failed" and "add" in bad.output
        assert server.state == "ready"  # a failing tool is not a failing server
        assert await server.call("add", {"a": 1, "b": 1}) == "2"


async def test_a_hanging_tool_times_out_and_the_server_stays_usable() -> None:
    async with started(stdio_settings("weather")) as server:
        slow, quick = await run_calls(
            [
                call("weather__slow", '{"seconds": 60}', "slow"),
                call("weather__weather", '{"city": "Jeju"}', "quick"),
            ],
            server.tools,
            CONTEXT,
            timeout=1.0,
        )
        assert slow.error == "timed_out" and "did not answer within 1 seconds" in slow.output
        assert quick.error is None and quick.output == weather_line("Jeju")  # the same session
        assert server.state == "ready"
        [after] = await run_calls(
            [call("weather__slow", '{"seconds": 0.01}')], server.tools, CONTEXT, timeout=10
        )
        assert after.error is None and after.output == "slept 0.01 seconds"


async def test_a_server_that_crashes_at_start_is_failed_logged_and_reaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "pid"
    server = MCPServer(stdio_settings("broken", script=CRASH_SERVER, args=(str(pid_file),)))
    with caplog.at_level(logging.ERROR, logger="bot.tools.mcp"):
        await server.start(20)  # no exception out of start()
    assert server.state == "failed"
    assert server.error is not None
    assert "missing WEATHER_API_KEY" in server.error  # its own last words, in the error
    assert server.tools == {}
    assert any(
        "broken" in r.getMessage() and "missing WEATHER_API_KEY" in r.getMessage()
        for r in caplog.records
    )
    await until(lambda: gone(int(pid_file.read_text())))  # reaped: no zombie left
    with pytest.raises(MCPToolFailed, match="not running"):
        await server.call("weather", {"city": "Seoul"})
    await server.stop()
    assert server.state == "failed"  # still tells why, for `chatbot check`


async def test_a_servers_configured_secrets_are_masked_in_what_it_says(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "wk-live-8f3a9c2d"
    server = MCPServer(
        stdio_settings("broken", script=CRASH_SERVER, env={"WEATHER_API_KEY": secret})
    )
    with caplog.at_level(logging.DEBUG, logger="bot.tools.mcp"):
        await server.start(20)
    assert server.state == "failed" and server.error is not None
    assert "the key *** was refused" in server.error
    assert secret not in server.error
    assert secret not in caplog.text
    assert "the key *** was refused" in caplog.text


async def test_a_server_that_hangs_at_start_fails_after_the_timeout_and_is_killed(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    server = MCPServer(stdio_settings("stuck", script=HANG_SERVER, args=(str(pid_file),)))
    await server.start(timeout=0.5)
    assert server.state == "failed"
    assert server.error == "no answer within 0.5 seconds"
    assert server.tools == {}
    assert gone(int(pid_file.read_text()))  # killed and reaped by the time start() returns


async def test_a_command_that_does_not_exist_is_a_failed_server() -> None:
    server = MCPServer(MCPServerSettings(name="nope", command="/nonexistent/mcp-server"))
    await server.start(10)
    assert server.state == "failed"
    assert server.error is not None and "No such file" in server.error


async def test_stop_ends_the_subprocess() -> None:
    server = MCPServer(stdio_settings("weather"))
    await server.start(20)
    pid = await pid_of(server)
    assert not gone(pid)
    await server.stop()
    assert server.state == "stopped"
    assert gone(pid)
    with pytest.raises(MCPToolFailed):
        await server.call("weather", {"city": "Seoul"})
    await server.stop()  # twice is fine


async def test_stop_during_a_call_ends_it_as_an_error_result_and_is_no_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = MCPServer(stdio_settings("weather"))
    await server.start(20)
    running = asyncio.create_task(
        run_calls([call("weather__slow", '{"seconds": 60}')], server.tools, CONTEXT, 60)
    )
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.ERROR, logger="bot.tools.mcp"):
        await server.stop()
    [result] = await asyncio.wait_for(running, 20)
    assert result.error == "failed"
    assert state_of(server) == "stopped" and server.error is None
    assert caplog.records == []  # a shutdown, not a server failing


async def test_a_stdio_server_killed_while_ready_is_noticed_and_calls_are_error_results() -> None:
    async with started(stdio_settings("weather")) as server:
        pid = await pid_of(server)
        os.kill(pid, signal.SIGKILL)
        await until(lambda: server.state == "failed")  # its stderr closed: noticed unasked
        assert server.error is not None and "exited" in server.error
        [result] = await run_calls(
            [call("weather__weather", '{"city": "Seoul"}')], server.tools, CONTEXT, timeout=10
        )
        assert result.error == "failed" and "not running" in result.output
        await until(lambda: gone(pid))


async def test_a_server_that_only_closes_its_stderr_stays_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.tools.mcp")
    async with started(stdio_settings("weather")) as server:
        assert await server.call("close_stderr", {}) == "stderr closed"
        # The EOF is seen, and the one request it then asks is answered.
        await until(lambda: "closed its stderr and still answers" in caplog.text)
        assert server.state == "ready"
        assert await server.call("add", {"a": 2, "b": 2}) == "4"


async def test_a_server_dying_in_a_call_fails_that_call_at_once_and_the_next() -> None:
    async with started(stdio_settings("weather")) as server:
        [died] = await run_calls([call("weather__die")], server.tools, CONTEXT, timeout=30)
        assert died.error == "failed"  # not "timed_out": the closed connection is seen at once
        assert server.state == "failed"
        [after] = await run_calls(
            [call("weather__add", '{"a": 1, "b": 2}')], server.tools, CONTEXT, timeout=30
        )
        assert after.error == "failed" and "not running" in after.output


async def test_a_server_killed_during_a_slow_call_fails_it_without_waiting_for_the_timeout() -> (
    None
):
    async with started(stdio_settings("weather")) as server:
        pid = await pid_of(server)
        running = asyncio.create_task(
            run_calls([call("weather__slow", '{"seconds": 60}')], server.tools, CONTEXT, 60)
        )
        await asyncio.sleep(0.3)  # the call is on its way
        os.kill(pid, signal.SIGKILL)
        [result] = await asyncio.wait_for(running, 20)  # far under the tool's 60 s timeout
        assert result.error == "failed"
        assert server.state == "failed"


# streamable HTTP


@pytest.fixture
async def http_server() -> AsyncIterator[MCPHTTPServer]:
    async with MCPHTTPServer() as server:
        yield server


async def test_an_http_server_starts_lists_and_answers(http_server: MCPHTTPServer) -> None:
    async with started(http_server.settings("remote")) as server:
        assert server.state == "ready"
        assert set(server.tools) == {f"remote__{t}" for t in TOOLS}
        assert (
            server.tools["remote__weather"].spec.description == "The weather in a city right now."
        )
        results = await run_calls(
            [call("remote__weather", '{"city": "Daegu"}', "a"), call("remote__fails", "{}", "b")],
            server.tools,
            CONTEXT,
            timeout=10,
        )
        assert results[0].output == weather_line("Daegu") and results[0].error is None
        assert results[1].error == "failed" and "the tool broke on purpose" in results[1].output
        # Over HTTP the server's environment is its own, and a hanging call times out too.
        [slow] = await run_calls(
            [call("remote__slow", '{"seconds": 60}')], server.tools, CONTEXT, timeout=0.5
        )
        assert slow.error == "timed_out"
        assert await server.call("add", {"a": 20, "b": 1}) == "21"


async def test_an_http_server_killed_mid_way_fails_calls_cleanly(
    http_server: MCPHTTPServer,
) -> None:
    async with started(http_server.settings("remote")) as server:
        assert await server.call("add", {"a": 1, "b": 1}) == "2"
        http_server.kill()
        [result] = await asyncio.wait_for(
            run_calls([call("remote__weather", '{"city": "Seoul"}')], server.tools, CONTEXT, 30),
            20,
        )
        assert result.error == "failed"  # an error result, not a hang until the timeout
        assert result.output.startswith("error: ")
        await until(lambda: server.state == "failed")
        [again] = await run_calls(
            [call("remote__add", '{"a": 1, "b": 1}')], server.tools, CONTEXT, 30
        )
        assert again.error == "failed" and "not running" in again.output


async def test_an_http_server_killed_during_a_call_fails_it_at_once(
    http_server: MCPHTTPServer,
) -> None:
    async with started(http_server.settings("remote")) as server:
        running = asyncio.create_task(
            run_calls([call("remote__slow", '{"seconds": 60}')], server.tools, CONTEXT, 60)
        )
        await asyncio.sleep(0.3)
        http_server.kill()
        [result] = await asyncio.wait_for(running, 20)
        assert result.error == "failed"
        await until(lambda: server.state == "failed")


async def test_an_http_server_that_is_not_there_is_a_failed_server() -> None:
    from testing.servers import free_port

    server = MCPServer(MCPServerSettings(name="remote", url=f"http://127.0.0.1:{free_port()}/mcp"))
    await server.start(10)
    assert server.state == "failed"
    assert server.error is not None and "Connect" in server.error


# the pieces


def test_tool_names_are_in_the_characters_providers_accept() -> None:
    assert _tool_name("weather", "get_forecast") == "weather__get_forecast"
    assert _tool_name("my-server", "get.forecast now") == "my-server__get_forecast_now"
    assert len(_tool_name("s", "x" * 100)) == 64


def test_results_other_than_text_are_named_not_pasted() -> None:
    result = CallToolResult(
        content=[
            TextContent(type="text", text="a chart:"),
            ImageContent(type="image", data="AAAA", mime_type="image/png"),
            EmbeddedResource(
                type="resource",
                resource=TextResource(uri="file:///notes.txt", text="the notes"),
            ),
        ]
    )
    assert _result_text(result) == "a chart:\n[image (image/png) left out]\nthe notes"
    structured = CallToolResult(content=[], structured_content={"temp": 21, "sky": "맑음"})
    assert _result_text(structured) == '{"temp": 21, "sky": "맑음"}'


def test_toml_table_round_trips_through_the_toml_reader() -> None:
    import tomllib

    settings = stdio_settings("weather", env={"GREETING": 'say "hi"'}, web=True)
    table = tomllib.loads(toml_table(settings))["mcp"]["weather"]
    assert table == {
        "command": settings.command,
        "args": list(settings.args),
        "env": {"GREETING": 'say "hi"'},
        "web": True,
    }
