"""ToolBox.for_turn: a tag's tools, for whom, and where. The MCP servers are real
(testing/mcp_servers): one ready over stdio, one also allowed on the web, one that crashed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from bot.memory import Memory
from bot.personas import Persona
from bot.settings import ModelSettings
from bot.tools.builtin import BUILTIN_NAMES, builtin_tools
from bot.tools.mcp import MCPServer
from bot.tools.toolbox import ToolBox, label_of
from bot.types import Author, IncomingMessage
from testing.fakes import InMemoryStore
from testing.mcp_servers import CRASH_SERVER, TOOLS, stdio_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Servers:
    weather: MCPServer  # ready, not for the web
    public: MCPServer  # ready, `web = true`
    broken: MCPServer  # crashed at start


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers() -> AsyncIterator[Servers]:
    started = Servers(
        MCPServer(stdio_settings("weather")),
        MCPServer(stdio_settings("public", web=True)),
        MCPServer(stdio_settings("broken", script=CRASH_SERVER)),
    )
    box = ToolBox({}, [started.weather, started.public, started.broken], "chatbot")
    box.start()  # all at once, in the background
    await box.ready()
    assert (started.weather.state, started.public.state, started.broken.state) == (
        "ready",
        "ready",
        "failed",
    )
    yield started
    await box.stop()


def memory() -> Memory:
    return InMemoryStore()


def persona(name: str = "chatbot", **kw: object) -> Persona:
    return Persona(name, "prompt", ModelSettings(), 10, 1000, **kw)  # type: ignore[arg-type]


def message(
    platform: str = "discord", author: str = "42", roles: tuple[str, ...] = ()
) -> IncomingMessage:
    channel = {"discord": "discord:1:2", "slack": "slack:T1:C1", "web": "web:lobby"}[platform]
    return IncomingMessage(
        platform=platform,
        channel=channel,
        message_id="m1",
        author=Author(id=author, name="someone"),
        text="@chatbot what time is it in Seoul?",
        roles=roles,
    )


def toolbox(servers: Servers) -> ToolBox:
    return ToolBox(
        builtin_tools(memory()), [servers.weather, servers.public, servers.broken], "chatbot"
    )


async def test_the_bots_own_tag_gets_the_builtins_by_default_other_tags_none(
    servers: Servers,
) -> None:
    box = toolbox(servers)
    assert tuple(box.for_turn(persona("chatbot"), message())) == BUILTIN_NAMES
    assert box.for_turn(persona("translate"), message()) == {}


async def test_an_empty_tools_list_turns_them_off_and_a_list_names_what_it_may_use(
    servers: Servers,
) -> None:
    box = toolbox(servers)
    assert box.for_turn(persona("chatbot", tools=()), message()) == {}
    only = box.for_turn(persona("tutor", tools=("current_time",)), message())
    assert list(only) == ["current_time"]
    assert box.for_turn(persona("tutor", tools=("no_such_tool",)), message()) == {}


async def test_mcp_server_and_mcp_server_dot_tool(servers: Servers) -> None:
    box = toolbox(servers)
    everything = box.for_turn(persona("tutor", tools=("search_memory", "mcp:weather")), message())
    assert set(everything) == {"search_memory", *(f"weather__{t}" for t in TOOLS)}
    assert everything["weather__add"] is servers.weather.tools["weather__add"]
    one = box.for_turn(persona("tutor", tools=("mcp:weather.weather",)), message())
    assert list(one) == ["weather__weather"]
    assert box.for_turn(persona("tutor", tools=("mcp:weather.nothing",)), message()) == {}
    assert box.for_turn(persona("tutor", tools=("mcp:nowhere",)), message()) == {}


async def test_a_failed_servers_tools_are_left_out(servers: Servers) -> None:
    box = toolbox(servers)
    found = box.for_turn(persona("tutor", tools=("mcp:broken", "mcp:weather.add")), message())
    assert list(found) == ["weather__add"]


async def test_a_server_that_died_since_is_left_out_too() -> None:
    server = MCPServer(stdio_settings("flaky"))
    await server.start(20)
    box = ToolBox({}, [server], "chatbot")
    tag = persona("tutor", tools=("mcp:flaky",))
    try:
        assert "flaky__die" in box.for_turn(tag, message())
        with pytest.raises(Exception):  # noqa: B017  (which error is test_mcp's business)
            await server.call("die", {})
        assert server.state == "failed"
        assert box.for_turn(tag, message()) == {}
    finally:
        await server.stop()


ROLE_GATED = {"tools": ("current_time",), "tool_roles": ("111", "Teachers")}
USER_GATED = {"tools": ("current_time",), "tool_users": ("U777", "discord:42")}


@pytest.mark.parametrize("platform", ["discord", "slack"])
async def test_tool_roles_let_only_members_with_a_role_use_them(
    servers: Servers, platform: str
) -> None:
    box = toolbox(servers)
    tag = persona("tutor", **ROLE_GATED)
    assert list(box.for_turn(tag, message(platform, roles=("111",)))) == ["current_time"]
    assert list(box.for_turn(tag, message(platform, roles=("9", "Teachers")))) == ["current_time"]
    assert box.for_turn(tag, message(platform, roles=("222",))) == {}
    assert box.for_turn(tag, message(platform)) == {}


async def test_tool_users_take_bare_ids_and_the_platform_id_form(servers: Servers) -> None:
    box = toolbox(servers)
    tag = persona("tutor", **USER_GATED)
    assert list(box.for_turn(tag, message("slack", author="U777"))) == ["current_time"]
    assert list(box.for_turn(tag, message("discord", author="42"))) == ["current_time"]
    assert box.for_turn(tag, message("slack", author="42")) == {}  # discord:42 is Discord's
    assert box.for_turn(tag, message("discord", author="43")) == {}


async def test_a_limited_tag_offers_the_web_chat_nothing(servers: Servers) -> None:
    """Anyone may type any nickname there: a listed id is no one's proof."""
    box = toolbox(servers)
    assert box.for_turn(persona("tutor", **USER_GATED), message("web", author="U777")) == {}
    assert box.for_turn(persona("tutor", **USER_GATED), message("web", author="web:42")) == {}
    assert box.for_turn(persona("tutor", **ROLE_GATED), message("web", roles=("111",))) == {}


async def test_the_web_chat_gets_only_tools_safe_for_it(servers: Servers) -> None:
    box = toolbox(servers)
    tag = persona("chatbot", tools=(*BUILTIN_NAMES, "mcp:weather", "mcp:public"))
    on_web = box.for_turn(tag, message("web", author="web:minho"))
    assert set(on_web) == {*BUILTIN_NAMES, *(f"public__{t}" for t in TOOLS)}  # web = true only
    on_discord = box.for_turn(tag, message("discord"))
    assert {f"weather__{t}" for t in TOOLS} <= set(on_discord)


async def test_labels_say_what_is_happening() -> None:
    assert label_of("search_memory") == "searching this channel's memory…"
    assert label_of("weather__forecast") == "using weather: forecast…"
    assert label_of("oddname") == "using oddname…"
