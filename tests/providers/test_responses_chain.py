"""openai-responses: a per-channel `previous_response_id` chain that also hears plain chat."""

from __future__ import annotations

from typing import Any

import openai

from testing.stubs.model_server import Reply, Status
from testing.stubs.provider_server import ProviderServer
from tests.helpers import Client, start_app
from tests.provider_helpers import provider_settings, stored

NOT_FOUND = Status(
    400,
    {
        "error": {
            "message": "Previous response with id 'resp_1' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    },
)


def contents(body: dict[str, Any]) -> list[str]:
    return [item["content"] for item in body["input"]]


async def test_course_transcript_hears_plain_chat(db_url: str, pserver: ProviderServer) -> None:
    app = await start_app(provider_settings(db_url, pserver, "openai-responses"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 내이름은 소연이야")
        assert (await c.answer())["message"] == "answer 1"
        await c.say("사실 나는 민선데!")
        await c.say("@chatbot 내이름이 머라고!!!!")
        assert (await c.answer())["message"] == "answer 2"
        await c.close()
        rows = await app.app.state.store.recent("web:lobby", 10)
    finally:
        await app.stop()
    usage = rows[-1].usage
    assert usage is not None and usage.provider == "openai-responses"
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (11, 7, 18)
    first, third = pserver.responses_requests()
    assert first.get("previous_response_id") is None
    assert first["stream"] is True and first["store"] is True
    assert first["instructions"] == app.app.state.service.settings.system_prompt
    assert contents(first) == ["soyeon: 내이름은 소연이야"]
    # the third message's request continues the chain and carries the plain-chat line
    assert third["previous_response_id"] == "resp_1"
    assert contents(third) == ["soyeon: 사실 나는 민선데!", "soyeon: 내이름이 머라고!!!!"]
    assert third["instructions"] == first["instructions"]


async def test_restart_keeps_the_chain(db_url: str, pserver: ProviderServer) -> None:
    settings = provider_settings(db_url, pserver, "openai-responses")
    app = await start_app(settings)
    c = await Client.connect(app.ws_url("soyeon"))
    await c.say("@chatbot 기억해: 파란색")
    await c.answer()
    await c.close()
    await app.stop()

    app = await start_app(settings)  # a new process on the same SQLite file
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 무슨 색?")
        await c.answer()
        await c.close()
    finally:
        await app.stop()
    second = pserver.responses_requests()[1]
    assert second["previous_response_id"] == "resp_1"
    assert contents(second) == ["soyeon: 무슨 색?"]


async def test_two_channels_keep_two_chains(db_url: str, pserver: ProviderServer) -> None:
    app = await start_app(provider_settings(db_url, pserver, "openai-responses"))
    try:
        a = await Client.connect(app.ws_url("amy", room="a"))
        b = await Client.connect(app.ws_url("bob", room="b"))
        for client, text in ((a, "@chatbot a1"), (b, "@chatbot b1"), (a, "@chatbot a2")):
            await client.say(text)
            await client.answer()
        await b.say("@chatbot b2")
        await b.answer()
        await a.close()
        await b.close()
    finally:
        await app.stop()
    reqs = pserver.responses_requests()
    assert [r.get("previous_response_id") for r in reqs] == [None, None, "resp_1", "resp_2"]
    assert contents(reqs[2]) == ["amy: a2"]
    assert contents(reqs[3]) == ["bob: b2"]


async def test_lost_previous_response_falls_back_and_starts_a_new_chain(
    db_url: str, pserver: ProviderServer
) -> None:
    app = await start_app(provider_settings(db_url, pserver, "openai-responses"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 내이름은 소연이야")
        await c.answer()
        pserver.then(NOT_FOUND)
        await c.say("@chatbot 내이름이 머라고?")
        answer = await c.answer()
        assert answer.get("error") is None and answer["message"] == "answer 3"
        await c.say("@chatbot 고마워")
        await c.answer()
        await c.close()
        texts = [m["message"] for m in await stored(app)]
    finally:
        await app.stop()
    reqs = pserver.responses_requests()
    assert [r.get("previous_response_id") for r in reqs] == [None, "resp_1", None, "resp_2"]
    # the fallback sent the ordinary history: the whole conversation so far
    assert contents(reqs[2]) == [
        "soyeon: 내이름은 소연이야",
        "answer 1",
        "soyeon: 내이름이 머라고?",
    ]
    assert [item["role"] for item in reqs[2]["input"]] == ["user", "assistant", "user"]
    assert contents(reqs[3]) == ["soyeon: 고마워"]
    assert texts == [
        "@chatbot 내이름은 소연이야",
        "answer 1",
        "@chatbot 내이름이 머라고?",
        "answer 3",
        "@chatbot 고마워",
        "answer 4",
    ]


async def test_reset_clears_the_chain_for_the_model(db_url: str, pserver: ProviderServer) -> None:
    app = await start_app(provider_settings(db_url, pserver, "openai-responses"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 하나")
        await c.answer()
        last = (await stored(app))[-1]["id"]
        await app.app.state.store.reset("web:lobby", last)
        await c.say("@chatbot 둘")
        await c.answer()
        await c.close()
    finally:
        await app.stop()
    second = pserver.responses_requests()[1]
    assert second.get("previous_response_id") is None
    assert contents(second) == ["soyeon: 둘"]


async def test_stub_event_sequence_satisfies_the_sdk_stream_helper(
    pserver: ProviderServer,
) -> None:
    # the SDK's accumulating helper rejects a stream missing the events it builds state from
    client = openai.AsyncOpenAI(api_key="sk-test-not-a-secret", base_url=pserver.url)
    async with client.responses.stream(model="gpt-4.1", input="hi", instructions="be brief") as s:
        deltas = [e.delta async for e in s if e.type == "response.output_text.delta"]
        final = await s.get_final_response()
    assert "".join(deltas) == final.output_text == "answer 1"
    assert final.id == "resp_1" and final.usage is not None and final.usage.total_tokens == 18


async def test_chat_said_while_an_answer_was_written_reaches_the_next_call(
    db_url: str, pserver: ProviderServer
) -> None:
    app = await start_app(provider_settings(db_url, pserver, "openai-responses"))
    try:
        asker = await Client.connect(app.ws_url("soyeon"))
        other = await Client.connect(app.ws_url("jihun"))
        pserver.then(Reply("slow first answer", delay=1.0))
        await asker.say("@chatbot 첫 질문")
        await pserver.wait_for_requests(1)
        await other.say("said while the bot was writing")
        assert (await asker.answer())["message"] == "slow first answer"
        await asker.say("@chatbot 두 번째")
        await asker.answer()
        await asker.close()
        await other.close()
    finally:
        await app.stop()
    second = pserver.responses_requests()[1]
    assert second["previous_response_id"] == "resp_1"
    # the chain's own answer is on the server already; the line said meanwhile is not
    assert contents(second) == [
        "jihun: said while the bot was writing",
        "soyeon: 두 번째",
    ]
