"""Function tools through each real provider class and its real SDK, against the loopback stubs.

The providers declare the tools in their own wire format, read the model's calls as it streams
them (one, several at once, arguments unparsed), and send the tool rounds back: Chat Completions
as assistant `tool_calls` plus `role: tool` messages, the Responses API as `function_call_output`
items on the chain (or in full when the chain is gone), Gemini as the model's own parts (thought
signature included) followed by `functionResponse` parts. Hosted web search comes back as sources.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest

from bot.context import ChatTurn, ModelRequest
from bot.providers.base import ModelReply, Provider, close_provider
from bot.providers.gemini import GeminiProvider, build_gemini_client
from bot.providers.openai_chat import OpenAIChatProvider, build_openai_client
from bot.providers.openai_responses import OpenAIResponsesProvider
from bot.settings import ModelSettings
from bot.tools.base import Source, ToolCall, ToolResult, ToolRound, ToolSpec
from testing.stubs.model_server import Reply, Searched, Status, ToolCalls
from testing.stubs.provider_server import ProviderServer
from tests.provider_helpers import PROVIDER_NAMES

SEARCH = ToolSpec(
    "search_memory",
    "Search this channel's long memory.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
TIME = ToolSpec(
    "current_time",
    "The time now in a time zone.",
    {"type": "object", "properties": {"time_zone": {"type": "string"}}},
)
TOOLS = [SEARCH, TIME]
TURNS = [ChatTurn("user", "minho: 시험 언제야?")]
SYSTEM = "You are chatbot."

Make = Callable[[str], Provider]


@pytest.fixture
async def make(pserver: ProviderServer) -> AsyncIterator[Make]:
    """Builds the real provider class for a name, on the stub; closes them all afterwards."""
    made: list[Provider] = []

    def build(name: str) -> Provider:
        provider: Provider
        if name == "gemini":
            provider = GeminiProvider(build_gemini_client("gemini-test-key", pserver.root, 5))
        elif name == "openai-responses":
            provider = OpenAIResponsesProvider(build_openai_client("sk-test", pserver.url, 5))
        else:
            provider = OpenAIChatProvider(build_openai_client("sk-test", pserver.url, 5))
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await close_provider(provider)


def request(
    name: str,
    rounds: list[ToolRound] | None = None,
    tools: list[ToolSpec] | None = None,
    web_search: bool = False,
) -> ModelRequest:
    return ModelRequest(
        channel="web:lobby",
        system=SYSTEM,
        turns=TURNS,
        settings=ModelSettings(provider=name, model="stub-model", timeout=5),
        tools=TOOLS if tools is None else tools,
        rounds=rounds or [],
        web_search=web_search,
    )


class Deltas:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, text: str) -> None:
        self.seen.append(text)


def round_of(reply: ModelReply, *outputs: str) -> ToolRound:
    """The round the core's loop builds from a reply that asked for tools."""
    assert len(outputs) == len(reply.tool_calls)
    return ToolRound(
        calls=reply.tool_calls,
        results=[
            ToolResult(call=c, output=o) for c, o in zip(reply.tool_calls, outputs, strict=True)
        ],
        text=reply.text,
        response_id=reply.response_id,
        raw=reply.raw,
    )


def pick(part: dict[str, Any], camel: str) -> Any:
    """A Gemini field by its camelCase name; the SDK sends some in snake_case (both accepted)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return part.get(camel, part.get(snake))


def signature_bytes(text: str) -> bytes:
    """Gemini's bytes travel base64; the SDK re-encodes them URL-safe, the same bytes."""
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))


# -- (a) the tools are declared on the wire ---------------------------------------------------


async def test_chat_declares_function_tools(make: Make, pserver: ProviderServer) -> None:
    provider = make("openai")
    await provider.complete(request("openai"), Deltas())
    await provider.complete(request("openai", tools=[]), Deltas())
    with_tools, without = pserver.chat_requests()
    assert with_tools["tools"] == [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in TOOLS
    ]
    assert "tools" not in without


async def test_responses_declares_functions_and_web_search_only_when_asked(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai-responses")
    await provider.complete(request("openai-responses"), Deltas())
    await provider.complete(request("openai-responses", web_search=True), Deltas())
    await provider.complete(request("openai-responses", tools=[], web_search=True), Deltas())
    await provider.complete(request("openai-responses", tools=[]), Deltas())
    functions, searching, search_only, bare = pserver.responses_requests()
    declared = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
        }
        for t in TOOLS
    ]
    assert functions["tools"] == declared
    assert searching["tools"] == [*declared, {"type": "web_search"}]
    assert search_only["tools"] == [{"type": "web_search"}]
    assert "tools" not in bare


async def test_gemini_declares_functions_and_google_search_only_when_asked(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("gemini")
    await provider.complete(request("gemini"), Deltas())
    await provider.complete(request("gemini", web_search=True), Deltas())
    await provider.complete(request("gemini", tools=[]), Deltas())
    functions, searching, bare = pserver.gemini_requests()

    def declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
        found = [pick(t, "functionDeclarations") for t in body["tools"]]
        return [d for group in found if group for d in group]

    expected = [(t.name, t.description, t.parameters) for t in TOOLS]
    for body in (functions, searching):
        got = [
            (d["name"], d["description"], pick(d, "parametersJsonSchema"))
            for d in declarations(body)
        ]
        assert got == expected
    assert not any(pick(t, "googleSearch") is not None for t in functions["tools"])
    assert [t for t in searching["tools"] if pick(t, "googleSearch") is not None] == [
        {"googleSearch": {}}
    ]
    assert "tools" not in bare
    # We run the functions ourselves: the SDK's automatic calling never sends a thing of its own.
    assert len(pserver.gemini_requests()) == 3


# -- (b) the reply's tool calls ---------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_one_call_comes_back_as_a_tool_call(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    pserver.then(ToolCalls([("search_memory", '{"query": "exam"}')]))
    deltas = Deltas()
    reply = await make(name).complete(request(name), deltas)
    assert reply.tool_calls == [ToolCall("call_1", "search_memory", '{"query": "exam"}')]
    assert reply.text == "" and deltas.seen == []


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_several_calls_at_once_keep_their_order_and_ids(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    asked = [
        ("search_memory", '{"query": "시험 범위"}'),
        ("current_time", '{"time_zone": "Asia/Seoul"}'),
        ("search_memory", '{"query": "midterm room"}'),
    ]
    pserver.then(ToolCalls(asked))
    reply = await make(name).complete(request(name), Deltas())
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        (n, json.loads(a)) for n, a in asked
    ]
    assert [c.id for c in reply.tool_calls] == ["call_1", "call_2", "call_3"]


@pytest.mark.parametrize("name", ["openai", "openai-responses"])
async def test_bad_argument_json_is_passed_through_unparsed(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    broken = '{"query": "exam", '  # the model stopped mid-object
    pserver.then(ToolCalls([("search_memory", broken), ("current_time", "not json at all")]))
    reply = await make(name).complete(request(name), Deltas())
    assert [c.arguments for c in reply.tool_calls] == [broken, "not json at all"]


async def test_gemini_calls_without_ids_get_ids_unique_within_the_turn(
    make: Make, pserver: ProviderServer
) -> None:
    """Gemini 2.5 names no call; the loop still tells every call of the turn apart."""
    provider = make("gemini")
    two = [("search_memory", '{"query": "a"}'), ("search_memory", '{"query": "b"}')]
    pserver.then(ToolCalls(two, gemini_ids=False), ToolCalls(two[:1], gemini_ids=False))
    first = await provider.complete(request("gemini"), Deltas())
    assert [c.arguments for c in first.tool_calls] == ['{"query": "a"}', '{"query": "b"}']
    second = await provider.complete(request("gemini", [round_of(first, "A", "B")]), Deltas())
    ids = [c.id for c in first.tool_calls + second.tool_calls]
    assert len(set(ids)) == 3 and all(ids)


# -- (c) the next request carries the results -------------------------------------------------


async def test_chat_sends_the_round_as_assistant_tool_calls_then_tool_messages(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai")
    pserver.then(
        ToolCalls([("search_memory", '{"query": "exam"}'), ("current_time", "{oops")]),
        Reply("시험은 금요일이에요."),
    )
    asked = await provider.complete(request("openai"), Deltas())
    answer = await provider.complete(
        request("openai", [round_of(asked, "found: Friday", "error: bad arguments")]), Deltas()
    )
    assert answer.text == "시험은 금요일이에요." and answer.tool_calls == []
    messages = pserver.chat_requests()[1]["messages"]
    assert messages[:2] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TURNS[0].content},
    ]
    assert messages[2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search_memory", "arguments": '{"query": "exam"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "current_time", "arguments": "{oops"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found: Friday"},
        {"role": "tool", "tool_call_id": "call_2", "content": "error: bad arguments"},
    ]
    assert pserver.chat_requests()[1]["tools"] == pserver.chat_requests()[0]["tools"]


async def test_responses_continues_the_chain_with_function_call_outputs(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai-responses")
    pserver.then(
        ToolCalls([("search_memory", '{"query": "exam"}'), ("current_time", "{}")]),
        Reply("금요일이에요."),
    )
    asked = await provider.complete(request("openai-responses"), Deltas())
    assert asked.response_id == "resp_1"
    answer = await provider.complete(
        request("openai-responses", [round_of(asked, "found: Friday", "09:00 KST")]), Deltas()
    )
    assert answer.text == "금요일이에요." and answer.response_id == "resp_2"
    follow = pserver.responses_requests()[1]
    assert follow["previous_response_id"] == "resp_1"
    assert follow["input"] == [
        {"type": "function_call_output", "call_id": "call_1", "output": "found: Friday"},
        {"type": "function_call_output", "call_id": "call_2", "output": "09:00 KST"},
    ]
    assert follow["instructions"] == SYSTEM and follow["tools"]


def full_round_items(round_: ToolRound) -> list[dict[str, Any]]:
    said = [{"role": "assistant", "content": round_.text}] if round_.text else []
    return [
        *said,
        *[
            {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
            for c in round_.calls
        ],
        *[
            {"type": "function_call_output", "call_id": r.call.id, "output": r.output}
            for r in round_.results
        ],
    ]


async def test_responses_without_a_response_id_sends_the_round_in_full(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai-responses")
    pserver.then(ToolCalls([("search_memory", '{"query": "exam"}')]), Reply("금요일."))
    asked = await provider.complete(request("openai-responses"), Deltas())
    unchained = ToolRound(
        calls=asked.tool_calls,
        results=[ToolResult(asked.tool_calls[0], "found: Friday")],
        response_id=None,
    )
    await provider.complete(request("openai-responses", [unchained]), Deltas())
    follow = pserver.responses_requests()[1]
    assert follow.get("previous_response_id") is None
    assert follow["input"] == [
        {"role": "user", "content": TURNS[0].content},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "search_memory",
            "arguments": '{"query": "exam"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "found: Friday"},
    ]


async def test_responses_whose_asking_response_is_gone_resends_the_round_in_full(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai-responses")
    gone = Status(
        404,
        {
            "error": {
                "message": "Previous response with id 'resp_1' not found.",
                "type": "invalid_request_error",
                "param": "previous_response_id",
                "code": "previous_response_not_found",
            }
        },
    )
    pserver.then(ToolCalls([("search_memory", '{"query": "exam"}')], text="찾아볼게요."))
    pserver.then(gone, Reply("금요일."))
    asked = await provider.complete(request("openai-responses"), Deltas())
    round_ = round_of(asked, "found: Friday")
    answer = await provider.complete(request("openai-responses", [round_]), Deltas())
    assert answer.text == "금요일."
    refused, resent = pserver.responses_requests()[1:]
    assert refused["previous_response_id"] == "resp_1"
    assert resent.get("previous_response_id") is None
    assert resent["input"] == [
        {"role": "user", "content": TURNS[0].content},
        *full_round_items(round_),
    ]
    assert resent["input"][1] == {"role": "assistant", "content": "찾아볼게요."}


SIGNATURE = base64.b64encode(b"\xfa\xfb\xfc\xfd\xfe\xff signed thoughts >?").decode()


@pytest.mark.parametrize("with_ids", [True, False])
async def test_gemini_sends_the_models_parts_verbatim_then_function_responses(
    make: Make, pserver: ProviderServer, with_ids: bool
) -> None:
    provider = make("gemini")
    pserver.then(
        ToolCalls(
            [
                ("search_memory", '{"query": "exam"}'),
                ("current_time", '{"time_zone": "Asia/Seoul"}'),
            ],
            gemini_ids=with_ids,
            signature=SIGNATURE,
        ),
        Reply("금요일이에요."),
    )
    asked = await provider.complete(request("gemini"), Deltas())
    answer = await provider.complete(
        request("gemini", [round_of(asked, "found: Friday", "09:00 KST")]), Deltas()
    )
    assert answer.text == "금요일이에요."
    contents = pserver.gemini_requests()[1]["contents"]
    assert contents[0] == {"role": "user", "parts": [{"text": TURNS[0].content}]}
    model, results = contents[1:]
    assert model["role"] == "model" and results["role"] == "user"
    first, second = model["parts"]
    assert signature_bytes(pick(first, "thoughtSignature")) == base64.b64decode(SIGNATURE)
    assert pick(second, "thoughtSignature") is None  # only the first call part bears one
    calls = [pick(p, "functionCall") for p in model["parts"]]
    assert [(c["name"], c["args"]) for c in calls] == [
        ("search_memory", {"query": "exam"}),
        ("current_time", {"time_zone": "Asia/Seoul"}),
    ]
    responses = [pick(p, "functionResponse") for p in results["parts"]]
    assert [(r["name"], r["response"]) for r in responses] == [
        ("search_memory", {"output": "found: Friday"}),
        ("current_time", {"output": "09:00 KST"}),
    ]
    if with_ids:
        assert [c.get("id") for c in calls] == ["call_1", "call_2"]
        assert [r.get("id") for r in responses] == ["call_1", "call_2"]
    else:  # the model named no call: neither do we
        assert [c.get("id") for c in calls] == [None, None]
        assert [r.get("id") for r in responses] == [None, None]


# -- (d) a chain of two rounds ----------------------------------------------------------------


async def two_rounds(provider: Provider, name: str, pserver: ProviderServer) -> list[ToolRound]:
    pserver.then(
        ToolCalls([("search_memory", '{"query": "exam"}')], signature="Zmlyc3Q="),
        ToolCalls(
            [
                ("current_time", '{"time_zone": "Asia/Seoul"}'),
                ("search_memory", '{"query": "room"}'),
            ],
            signature="c2Vjb25k",
        ),
        Reply("금요일 9시, 302호."),
    )
    first = await provider.complete(request(name), Deltas())
    one = round_of(first, "found: Friday")
    second = await provider.complete(request(name, [one]), Deltas())
    two = round_of(second, "09:00 KST", "found: room 302")
    answer = await provider.complete(request(name, [one, two]), Deltas())
    assert answer.text == "금요일 9시, 302호." and answer.tool_calls == []
    return [one, two]


async def test_chat_renders_two_rounds_in_order(make: Make, pserver: ProviderServer) -> None:
    await two_rounds(make("openai"), "openai", pserver)
    messages = pserver.chat_requests()[2]["messages"][2:]
    assert [(m["role"], m.get("tool_call_id")) for m in messages] == [
        ("assistant", None),
        ("tool", "call_1"),
        ("assistant", None),
        ("tool", "call_2"),
        ("tool", "call_3"),
    ]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["call_1"]
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["call_2", "call_3"]
    assert [m["content"] for m in messages if m["role"] == "tool"] == [
        "found: Friday",
        "09:00 KST",
        "found: room 302",
    ]


async def test_responses_chains_two_rounds(make: Make, pserver: ProviderServer) -> None:
    rounds = await two_rounds(make("openai-responses"), "openai-responses", pserver)
    _, second, third = pserver.responses_requests()
    assert second["previous_response_id"] == "resp_1"
    assert [i["call_id"] for i in second["input"]] == ["call_1"]
    # The first round's outputs are already on the chain: only the second's go with resp_2.
    assert third["previous_response_id"] == "resp_2" == rounds[1].response_id
    assert third["input"] == [
        {"type": "function_call_output", "call_id": "call_2", "output": "09:00 KST"},
        {"type": "function_call_output", "call_id": "call_3", "output": "found: room 302"},
    ]


async def test_responses_sends_two_unchained_rounds_in_full_in_order(
    make: Make, pserver: ProviderServer
) -> None:
    provider = make("openai-responses")
    pserver.then(Reply("끝."))
    calls = [
        ToolCall("c1", "search_memory", '{"query": "exam"}'),
        ToolCall("c2", "current_time", "{}"),
    ]
    one = ToolRound(calls=calls[:1], results=[ToolResult(calls[0], "Friday")], text="찾아볼게요.")
    two = ToolRound(calls=calls[1:], results=[ToolResult(calls[1], "09:00")])
    await provider.complete(request("openai-responses", [one, two]), Deltas())
    body = pserver.responses_requests()[0]
    assert body.get("previous_response_id") is None
    assert body["input"] == [
        {"role": "user", "content": TURNS[0].content},
        *full_round_items(one),
        *full_round_items(two),
    ]


async def test_gemini_renders_two_rounds_in_order_with_their_signatures(
    make: Make, pserver: ProviderServer
) -> None:
    await two_rounds(make("gemini"), "gemini", pserver)
    contents = pserver.gemini_requests()[2]["contents"][1:]
    assert [c["role"] for c in contents] == ["model", "user", "model", "user"]
    names = [[pick(p, "functionCall")["name"] for p in c["parts"]] for c in contents[::2]]
    assert names == [["search_memory"], ["current_time", "search_memory"]]
    answered = [[pick(p, "functionResponse")["id"] for p in c["parts"]] for c in contents[1::2]]
    assert answered == [["call_1"], ["call_2", "call_3"]]
    signatures = [signature_bytes(pick(c["parts"][0], "thoughtSignature")) for c in contents[::2]]
    assert signatures == [b"first", b"second"]


# -- (e) text before the calls ----------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_text_before_a_call_is_streamed_and_kept(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    said = "잠깐만요, 기록을 찾아볼게요. "
    pserver.then(ToolCalls([("search_memory", '{"query": "exam"}')], text=said), Reply("금요일."))
    deltas = Deltas()
    provider = make(name)
    asked = await provider.complete(request(name), deltas)
    assert len(deltas.seen) > 1 and "".join(deltas.seen) == said  # streamed, in pieces
    assert asked.text == said
    assert [c.name for c in asked.tool_calls] == ["search_memory"]
    await provider.complete(request(name, [round_of(asked, "found: Friday")]), Deltas())
    # The model's own words stay in its turn when the round goes back.
    if name == "openai":
        assert pserver.chat_requests()[1]["messages"][2]["content"] == said
    elif name == "gemini":
        model = pserver.gemini_requests()[1]["contents"][1]
        texts = "".join(p.get("text", "") for p in model["parts"])
        assert texts == said
        kinds = ["functionCall" if pick(p, "functionCall") else "text" for p in model["parts"]]
        assert kinds[-1] == "functionCall" and set(kinds[:-1]) == {"text"}
    else:  # on the chain: the server has it
        assert pserver.responses_requests()[1]["previous_response_id"] == asked.response_id


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_text_before_a_call_arrives_while_the_round_still_streams(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    """Streamed, not buffered until the calls are known: the first words come well before the
    round ends (each chunk after the first is 0.15 s later)."""
    stamps: list[float] = []

    async def on_delta(text: str) -> None:
        stamps.append(time.monotonic())

    pserver.then(
        ToolCalls(
            [("search_memory", '{"query": "exam"}')], text="찾아볼게요. 잠깐만요.", chunk_delay=0.15
        )
    )
    reply = await make(name).complete(request(name), on_delta)
    done = time.monotonic()
    assert reply.tool_calls and stamps
    assert done - stamps[0] >= 0.3


# -- (f) hosted web search's sources ----------------------------------------------------------


@pytest.mark.parametrize("name", ["openai-responses", "gemini"])
async def test_hosted_search_sources_come_back_deduplicated(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    pages = [
        ("https://www.snu.ac.kr/exam", "SNU exam calendar"),
        ("https://news.example.kr/seoul", "Seoul news"),
        ("https://www.snu.ac.kr/exam", "SNU exam calendar"),  # cited twice
    ]
    pserver.then(Searched("시험은 금요일이에요.", sources=pages, query="SNU exam date"))
    deltas = Deltas()
    reply = await make(name).complete(request(name, tools=[], web_search=True), deltas)
    assert reply.text == "시험은 금요일이에요." and "".join(deltas.seen) == reply.text
    assert reply.sources == [
        Source("https://www.snu.ac.kr/exam", "SNU exam calendar"),
        Source("https://news.example.kr/seoul", "Seoul news"),
    ]
    assert reply.tool_calls == []  # the provider ran its search itself: nothing for us to run


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_a_plain_answer_has_no_sources(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    pserver.then(Reply("그냥 답."))
    reply = await make(name).complete(request(name), Deltas())
    assert reply.sources == [] and reply.tool_calls == [] and reply.raw == []


# -- (g) usage on tool rounds -----------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDER_NAMES)
async def test_usage_is_read_on_a_tool_round(
    make: Make, pserver: ProviderServer, name: str
) -> None:
    pserver.then(ToolCalls([("current_time", "{}")], usage=(321, 17)))
    provider = make(name)
    reply = await provider.complete(request(name), Deltas())
    assert reply.tool_calls
    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (321, 17, 338)
    assert usage.provider == provider.name == name and usage.model == "stub-model"


# -- the stubs speak the wire the SDKs expect -------------------------------------------------


async def test_stub_tool_streams_satisfy_the_openai_sdks_own_accumulators(
    pserver: ProviderServer,
) -> None:
    """The SDK's typed stream helpers rebuild the whole message from the stub's events (and
    refuse streams whose items or indices do not line up)."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=pserver.url, max_retries=0)
    calls = [("search_memory", '{"query": "exam"}'), ("current_time", "{bad")]
    try:
        pserver.then(ToolCalls(calls, text="음."))
        async with client.chat.completions.stream(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream_options={"include_usage": True},
        ) as chat:
            completion = await chat.get_final_completion()
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content == "음."
        assert [
            (c.id, c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or []
            if c.type == "function"
        ] == [("call_1", *calls[0]), ("call_2", *calls[1])]
        assert completion.usage is not None and completion.usage.total_tokens == 18

        pserver.then(
            ToolCalls(calls, text="음."), Searched("답.", sources=[("https://a.kr/", "A")])
        )
        async with client.responses.stream(model="m", input="x") as stream:
            response = await stream.get_final_response()
        assert response.output_text == "음."
        assert [
            (o.call_id, o.name, o.arguments) for o in response.output if o.type == "function_call"
        ] == [("call_3", *calls[0]), ("call_4", *calls[1])]
        async with client.responses.stream(model="m", input="x") as stream:
            response = await stream.get_final_response()
        assert [o.type for o in response.output] == ["web_search_call", "message"]
        assert response.id == "resp_2" and response.output_text == "답."
    finally:
        await client.close()
