"""The tool loop in the core's turn (bot/tools/loop.py through bot/service.py), with fakes.

The providers' wire formats are tested in tests/providers/test_tools.py, MCP servers in
tests/tools, the whole path end to end in tests/e2e/test_tools.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import replace
from typing import Any

from bot.errors import ErrorKind, ProviderError
from bot.personas import Persona, default_persona
from bot.service import ChatService
from bot.settings import BotSettings
from bot.tools.base import Source, ToolContext, ToolSpec
from bot.tools.builtin import builtin_tools
from bot.tools.loop import NO_ANSWER
from bot.tools.toolbox import ToolBox
from bot.types import Author, IncomingMessage, Usage, utcnow
from testing.fakes import (
    EditingTarget,
    FakeProvider,
    InMemoryStore,
    RecordingTarget,
    Say,
    StatusLineTarget,
    StatusStreamingTarget,
    ask_tools,
)

ALICE = Author(id="u:alice", name="alice")


class Echo:
    """Answers with its arguments and where it was asked; `gate` holds it until released."""

    def __init__(self, name: str = "echo", *, web: bool = True, gate: asyncio.Event | None = None):
        self.spec = ToolSpec(name, f"{name} tool", {"type": "object", "properties": {}})
        self.safe_for_web = web
        self.gate = gate
        self.seen: list[tuple[dict[str, Any], ToolContext]] = []
        self.started = 0

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.started += 1
        self.seen.append((arguments, context))
        if self.gate is not None:
            await self.gate.wait()
        return f"{self.spec.name} got {json.dumps(arguments, sort_keys=True)}"


class Boom:
    spec = ToolSpec("boom", "fails", {"type": "object", "properties": {}})
    safe_for_web = True

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        raise RuntimeError("disk on fire")


class Hangs:
    spec = ToolSpec("hangs", "never answers", {"type": "object", "properties": {}})
    safe_for_web = True

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        await asyncio.Event().wait()
        return ""


def make(
    *script: Say | ProviderError,
    tools: dict[str, Any] | None = None,
    persona_tools: tuple[str, ...] | None = None,
    settings: BotSettings | None = None,
    store: InMemoryStore | None = None,
    **persona: Any,
) -> tuple[ChatService, InMemoryStore, FakeProvider]:
    settings = settings or BotSettings(tool_timeout=0.3)
    store = store or InMemoryStore()
    provider = FakeProvider(*script)
    tools = tools if tools is not None else {"echo": Echo()}
    chosen: Persona = replace(
        default_persona(settings),
        tools=persona_tools if persona_tools is not None else tuple(tools),
        **persona,
    )
    service = ChatService(
        store,
        lambda name: provider,
        settings,
        {settings.name: chosen},
        edit_interval=0.0,
        tools=ToolBox(tools, [], settings.name),
    )
    return service, store, provider


def said(
    text: str,
    *,
    platform: str = "web",
    channel: str = "web:room",
    roles: tuple[str, ...] = (),
    author: Author = ALICE,
) -> IncomingMessage:
    return IncomingMessage(
        platform=platform,
        channel=channel,
        author=author,
        text=text,
        time=utcnow(),
        message_id=None,
        roles=roles,
    )


async def turn(service: ChatService, message: IncomingMessage, target: RecordingTarget) -> None:
    await service.receive(message, target)
    await service.idle()


async def test_one_call_runs_the_tool_and_sends_its_result_back_then_answers() -> None:
    echo = Echo()
    service, store, provider = make(
        ask_tools(("echo", '{"q": "exam"}')), Say("The exam is on Friday."), tools={"echo": echo}
    )
    target = RecordingTarget()
    await turn(service, said("@chatbot when is the exam?"), target)
    assert target.texts() == ["The exam is on Friday."]
    first, second = provider.requests
    assert [t.name for t in first.tools] == ["echo"] and first.rounds == []
    assert first.tool_choice == "auto"
    (round_,) = second.rounds
    assert round_.calls[0].name == "echo"
    assert round_.results[0].output == 'echo got {"q": "exam"}'
    assert echo.seen[0][1].channel == "web:room" and echo.seen[0][1].author_id == "u:alice"
    answer = store.messages[-1]
    assert answer.role == "assistant" and answer.text == "The exam is on Friday."
    [(channel, message_id, asker, result)] = store.tool_calls
    assert (channel, message_id, asker) == ("web:room", answer.id, "u:alice")
    assert result.error is None and result.call.arguments == '{"q": "exam"}'


async def test_several_calls_at_once_run_in_parallel() -> None:
    gate = asyncio.Event()
    a, b = Echo("a", gate=gate), Echo("b", gate=gate)
    service, store, provider = make(
        ask_tools(("a", "{}"), ("b", '{"x": 1}')), Say("both done"), tools={"a": a, "b": b}
    )
    target = RecordingTarget()
    await service.receive(said("@chatbot do both"), target)
    # Both started before either may finish: they run at once, not one after the other.
    for _ in range(100):
        if a.started and b.started:
            break
        await asyncio.sleep(0.01)
    assert a.started == 1 and b.started == 1
    gate.set()
    await service.idle()
    assert target.texts() == ["both done"]
    results = provider.requests[1].rounds[0].results
    assert [r.output for r in results] == ["a got {}", 'b got {"x": 1}']  # the calls' order


async def test_a_chain_of_rounds_ends_with_a_round_that_may_not_ask() -> None:
    settings = BotSettings(max_tool_rounds=2, tool_timeout=0.3)
    service, store, provider = make(
        ask_tools(("echo", '{"n": 1}')),
        ask_tools(("echo", '{"n": 2}')),
        ask_tools(("echo", '{"n": 3}')),  # asks again although it may not
        settings=settings,
    )
    target = RecordingTarget()
    await turn(service, said("@chatbot loop"), target)
    assert len(provider.requests) == 3
    assert [len(r.rounds) for r in provider.requests] == [0, 1, 2]
    assert [r.tool_choice for r in provider.requests] == ["auto", "auto", "none"]
    # The tools stay declared in the last round: the rounds refer to them.
    assert [t.name for t in provider.requests[2].tools] == ["echo"]
    assert target.texts() == [NO_ANSWER]  # it said nothing: never an empty message
    assert len(store.tool_calls) == 2


async def test_failing_hanging_unknown_and_bad_arguments_become_error_results() -> None:
    tools = {"boom": Boom(), "hangs": Hangs(), "echo": Echo()}
    service, store, provider = make(
        ask_tools(("boom", "{}"), ("hangs", "{}"), ("nope", "{}"), ("echo", "{not json")),
        Say("Some tools failed, sorry."),
        tools=tools,
    )
    target = RecordingTarget()
    await turn(service, said("@chatbot try everything"), target)
    assert target.texts() == ["Some tools failed, sorry."]
    results = provider.requests[1].rounds[0].results
    assert [r.error for r in results] == ["failed", "timed_out", "unknown_tool", "bad_arguments"]
    assert "disk on fire" in results[0].output and results[0].output.startswith("error:")
    assert "'nope'" in results[2].output
    assert [r.error for *_, r in store.tool_calls] == [
        "failed",
        "timed_out",
        "unknown_tool",
        "bad_arguments",
    ]


async def test_text_before_a_call_streams_and_stays_in_the_answer() -> None:
    service, store, provider = make(
        ask_tools(("echo", "{}"), text="Let me look."),
        Say("Found it.", chunks=["Found ", "it."]),
    )
    target = StatusStreamingTarget()
    await turn(service, said("@chatbot look it up"), target)
    streamed = "".join(s.text for s in target.sent if s.kind == "stream")
    assert streamed == "Let me look.\n\nFound it."
    assert store.messages[-1].text == "Let me look.\n\nFound it."
    kinds = [(s.kind, s.text) for s in target.sent if s.kind in ("tool", "close")]
    assert kinds == [
        ("tool", "running: using echo…"),
        ("tool", "done: using echo…"),
        ("close", "Let me look.\n\nFound it."),
    ]


async def test_an_edited_reply_shows_a_status_line_while_the_tool_runs() -> None:
    gate = asyncio.Event()
    service, _, _ = make(ask_tools(("echo", "{}")), Say("done"), tools={"echo": Echo(gate=gate)})
    target = StatusLineTarget()
    await service.receive(said("@chatbot go"), target)
    for _ in range(100):
        if target.sent:
            break
        await asyncio.sleep(0.01)
    assert [(s.kind, s.text) for s in target.sent] == [("send", "-# using echo…")]
    gate.set()
    await service.idle()
    assert target.sent[-1].kind == "edit" and target.sent[-1].text == "done"
    # A target with no status line of its own gets an italic one.
    plain = EditingTarget()
    service, _, _ = make(ask_tools(("echo", "{}")), Say("done"))
    await turn(service, said("@chatbot go"), plain)
    assert plain.sent[0].text == "_using echo…_" and plain.sent[-1].text == "done"


async def test_usage_is_summed_over_the_rounds() -> None:
    first = replace(ask_tools(("echo", "{}")), usage=Usage(100, 5, 105, "m", "p"))
    service, store, _ = make(first, Say("ok", usage=Usage(130, 9, 139, "m", "p")))
    await turn(service, said("@chatbot sum"), RecordingTarget())
    usage = store.messages[-1].usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (230, 14, 244)


async def test_a_round_is_retried_unless_its_own_text_reached_the_chat() -> None:
    limited = ProviderError(ErrorKind.RATE_LIMITED, "429", retry_after=0.0)
    service, store, provider = make(
        ask_tools(("echo", "{}"), text="Checking."), limited, Say("Here."), store=None
    )
    target = StatusStreamingTarget()
    await turn(service, said("@chatbot check"), target)
    # Round 1 spoke, round 2 had not yet: its 429 is retried, nobody sees text twice.
    assert len(provider.requests) == 3
    assert store.messages[-1].text == "Checking.\n\nHere."


async def test_a_provider_failure_after_tools_ran_still_stores_their_calls() -> None:
    down = ProviderError(ErrorKind.AUTH, "401")
    service, store, provider = make(ask_tools(("echo", '{"q": 1}')), down)
    target = RecordingTarget()
    await turn(service, said("@chatbot fail later"), target)
    assert target.sent[-1].meta.error is ErrorKind.AUTH
    [(channel, message_id, asker, result)] = store.tool_calls
    assert message_id is None and result.call.name == "echo"
    assert [m.role for m in store.messages] == ["user"]  # the question is kept


async def test_hosted_search_sources_are_listed_under_the_answer_as_links() -> None:
    sources = [Source("https://a.example/x", "A [page]"), Source("https://b.example/(y)")]
    service, store, provider = make(
        Say("It rains in Seoul.", sources=sources), tools={}, web_search=True
    )
    target = RecordingTarget()
    await turn(service, said("@chatbot weather in Seoul?"), target)
    assert provider.requests[0].web_search is True and provider.requests[0].tools == []
    assert target.texts() == [
        "It rains in Seoul.\n\nSources:\n"
        "- [A (page)](https://a.example/x)\n"
        "- [https://b.example/(y)](https://b.example/%28y%29)"
    ]
    assert store.messages[-1].text == target.texts()[0]


async def test_no_tools_means_one_plain_call_as_before() -> None:
    service, store, provider = make(Say("hi"), tools={}, persona_tools=())
    await turn(service, said("@chatbot hi"), RecordingTarget())
    (request,) = provider.requests
    assert request.tools == [] and request.rounds == [] and request.tool_choice == "auto"


async def test_a_web_room_gets_only_tools_safe_for_it() -> None:
    tools = {"safe": Echo("safe"), "unsafe": Echo("unsafe", web=False)}
    service, _, provider = make(Say("a"), Say("b"), tools=tools)
    await turn(service, said("@chatbot web"), RecordingTarget())
    await turn(
        service,
        said("@chatbot discord", platform="discord", channel="discord:1:2"),
        RecordingTarget(),
    )
    assert [t.name for t in provider.requests[0].tools] == ["safe"]
    assert [t.name for t in provider.requests[1].tools] == ["safe", "unsafe"]


async def test_tools_limited_to_roles_and_users() -> None:
    service, _, provider = make(
        Say("a"), Say("b"), Say("c"), tool_roles=("role:mods",), tool_users=("slack:U42",)
    )
    slack = functools.partial(said, "@chatbot x", platform="slack", channel="slack:T1:C1")
    await turn(service, slack(), RecordingTarget())
    await turn(service, slack(roles=("role:mods",)), RecordingTarget())
    await turn(service, slack(author=Author(id="U42", name="boss")), RecordingTarget())
    assert [[t.name for t in r.tools] for r in provider.requests] == [[], ["echo"], ["echo"]]


async def test_search_memory_only_sees_the_channel_it_was_asked_in() -> None:
    store = InMemoryStore()
    service, _, provider = make(
        ask_tools(("search_memory", '{"query": "exam"}')),
        Say("ok"),
        tools=dict(builtin_tools(store)),
        persona_tools=("search_memory",),
        store=store,
    )
    await turn(service, said("the exam is in room B", channel="web:other"), RecordingTarget())
    await turn(service, said("the exam moved to Friday"), RecordingTarget())
    await turn(service, said("@chatbot when is the exam?"), RecordingTarget())
    output = provider.requests[1].rounds[0].results[0].output
    assert "Friday" in output and "room B" not in output


async def test_usage_command_counts_tool_calls() -> None:
    service, _, _ = make(ask_tools(("echo", "{}"), ("echo", "{}")), Say("ok"), Say("x"))
    await turn(service, said("@chatbot go"), RecordingTarget())
    target = RecordingTarget()
    await turn(service, said("@chatbot usage"), target)
    assert "Tool calls today: 2 (echo 2)" in target.texts()[0]
    assert "Tool calls in total: 2 (echo 2)" in target.texts()[0]


class Busy(StatusLineTarget):
    """A paced target whose budget is spent for its first `busy` asks."""

    def __init__(self, busy: int) -> None:
        super().__init__()
        self.busy = busy

    def may_update(self) -> bool:
        self.busy -= 1
        return self.busy < 0


async def test_a_status_line_held_back_by_the_budget_shows_once_it_allows() -> None:
    gate = asyncio.Event()
    service, _, _ = make(
        ask_tools(("echo", "{}")),
        Say("done"),
        tools={"echo": Echo(gate=gate)},
        settings=BotSettings(tool_timeout=20),
    )
    target = Busy(busy=2)
    await service.receive(said("@chatbot go"), target)
    for _ in range(300):  # retried every half second
        if target.sent:
            break
        await asyncio.sleep(0.01)
    assert [(s.kind, s.text) for s in target.sent] == [("send", "-# using echo…")]
    gate.set()
    await service.idle()
    assert target.sent[-1].text == "done"


async def test_a_status_line_never_lands_after_the_answer() -> None:
    service, _, _ = make(ask_tools(("echo", "{}")), Say("done"))
    target = Busy(busy=10**6)  # never any budget: only the final text goes
    await turn(service, said("@chatbot go"), target)
    await asyncio.sleep(0.6)
    assert [(s.kind, s.text) for s in target.sent] == [("send", "done")]
