"""The turn end to end: the real openai SDK against the loopback model, real WebSockets."""

from __future__ import annotations

import asyncio

import httpx

from testing.chat_client import has_message
from testing.stubs.model_server import Reply
from tests.helpers import Client, settings_for, start_app


def contents(request: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request["messages"]]


async def test_course_memory_scenario_plain_chat_reaches_the_model(app, model):
    """@chatbot 내 이름은 소연이야 / plain 사실 내이름은 민서 인데 / @chatbot 내이름이 뭐게?"""
    c = await Client.connect(app.ws_url("소연"))
    await c.say("@chatbot 내 이름은 소연이야")
    first = await c.answer()
    await c.say("사실 내이름은 민서 인데")
    await c.until(lambda f: f["message"] == "사실 내이름은 민서 인데")
    await c.say("@chatbot 내이름이 뭐게?")
    await c.answer()
    third = model.chat_requests()[1]
    msgs = contents(third)
    assert msgs[0][0] == "system"
    assert msgs[1:] == [
        ("user", "소연: 내 이름은 소연이야"),
        ("assistant", first["message"]),
        ("user", "소연: 사실 내이름은 민서 인데"),
        ("user", "소연: 내이름이 뭐게?"),
    ]
    assert third["model"] == "gpt-4.1" and third["stream"] is True
    await c.close()


async def test_addressing_variants(app, model):
    c = await Client.connect(app.ws_url("u"))
    for text in ("@ChatBot, hi", "@chatbot: hi", "  @CHATBOT hi"):
        await c.say(text)
        await c.answer()
    for text in ("@chatbotx hi", "hi @chatbot", "chatbot hi", "@chat hi"):
        await c.say(text)
        await c.until(has_message(text))
    await asyncio.sleep(0.3)
    assert len(model.chat_requests()) == 3
    await c.close()


async def test_answer_is_broadcast_and_stored_with_usage(app, model):
    model.then(Reply("네, 안녕하세요!", usage=(42, 5)))
    a = await Client.connect(app.ws_url("a"))
    b = await Client.connect(app.ws_url("b"))
    await a.say("@chatbot 안녕??")
    for c in (a, b):
        ans = await c.answer()
        assert ans["message"] == "네, 안녕하세요!" and isinstance(ans["id"], int)
    stored = await app.app.state.store.recent("web:lobby", 10)
    bot = [m for m in stored if m.role == "assistant"]
    assert len(bot) == 1 and bot[0].usage is not None
    assert (bot[0].usage.input_tokens, bot[0].usage.output_tokens, bot[0].usage.total_tokens) == (
        42,
        5,
        47,
    )
    assert bot[0].usage.model == "gpt-4.1" and bot[0].usage.provider == "openai"
    async with httpx.AsyncClient() as http:
        history = (await http.get(f"{app.http}/messages")).json()
    assert [(m["nickname"], m["message"]) for m in history] == [
        ("a", "@chatbot 안녕??"),
        ("chatbot", "네, 안녕하세요!"),
    ]
    await a.close()
    await b.close()


async def test_rooms_never_leak_into_each_others_requests(app, model):
    a = await Client.connect(app.ws_url("alice", room="A"))
    b = await Client.connect(app.ws_url("bob", room="B"))
    await a.say("the secret word is pineapple")
    await a.recv()
    await a.say("@chatbot what is the secret word?")
    await a.answer()
    await b.say("@chatbot what is the secret word?")
    await b.answer()
    request_b = model.chat_requests()[1]
    text_b = " ".join(m["content"] for m in request_b["messages"])
    assert "pineapple" not in text_b and "alice" not in text_b
    assert contents(request_b)[1:] == [("user", "bob: what is the secret word?")]
    await a.close()
    await b.close()


async def test_the_room_keeps_chatting_while_the_model_thinks(app, model):
    model.then(Reply("slow answer", delay=1.5))
    asker = await Client.connect(app.ws_url("asker"))
    other = await Client.connect(app.ws_url("other"))
    await asker.say("@chatbot think hard")
    await model.wait_for_requests(1)
    await other.say("meanwhile, plain chat")
    frame = await other.until(lambda f: f["nickname"] == "other", timeout=1.0)
    assert frame["message"] == "meanwhile, plain chat"
    assert not [f for f in other.frames if f["nickname"] == "chatbot"]  # still thinking
    assert (await other.answer())["message"] == "slow answer"
    await asker.close()
    await other.close()


async def test_answers_in_one_room_keep_order_while_rooms_run_in_parallel(app, model):
    model.default = lambda body: Reply(
        "re: " + body["messages"][-1]["content"].split(": ", 1)[-1], delay=0.4
    )
    one = await Client.connect(app.ws_url("u", room="one"))
    two = await Client.connect(app.ws_url("v", room="two"))
    await one.say("@chatbot first")
    await one.say("@chatbot second")
    await two.say("@chatbot elsewhere")
    answers = [(await one.answer())["message"], (await one.answer())["message"]]
    assert answers == ["re: first", "re: second"]
    assert (await two.answer())["message"] == "re: elsewhere"
    reqs = model.requests
    # room "two" did not wait for room "one": its request arrived before one's first finished
    by_text = {r.body["messages"][-1]["content"]: r.at for r in reqs}
    assert by_text["v: elsewhere"] < by_text["u: first"] + 0.3
    # the room's lock: the second question went to the model only after the first was answered
    assert by_text["u: second"] >= by_text["u: first"] + 0.4
    await one.close()
    await two.close()


async def test_history_is_limited_newest_first_and_starts_on_a_user_turn(db_url, model):
    running = await start_app(settings_for(db_url, model.url, CHATBOT_MAX_HISTORY_TURNS="4"))
    try:
        c = await Client.connect(running.ws_url("u"))
        for i in range(3):
            await c.say(f"@chatbot q{i}")
            await c.answer()
        msgs = contents(model.chat_requests()[-1])
        # 5 candidate turns (q0 a1 q1 a2 q2); the limit keeps the newest 4, then the leading
        # assistant turn is dropped so the history starts on a user turn.
        assert msgs[1:] == [
            ("user", "u: q1"),
            ("assistant", "answer 2"),
            ("user", "u: q2"),
        ]
        await c.close()
    finally:
        await running.stop()


async def test_token_budget_keeps_the_newest_turns(db_url, model):
    running = await start_app(settings_for(db_url, model.url, CHATBOT_MAX_HISTORY_TOKENS="300"))
    try:
        c = await Client.connect(running.ws_url("u"))
        for i in range(6):
            await c.say(f"{i} " + "words " * 100)  # ~200 estimated tokens each
            await c.recv()
        await c.say("@chatbot summarise")
        await c.answer()
        msgs = contents(model.chat_requests()[-1])
        assert msgs[-1] == ("user", "u: summarise")
        assert len(msgs) == 3 and msgs[1][1].startswith("u: 5 ")
        await c.close()
    finally:
        await running.stop()


async def test_memory_survives_a_restart(db_url, model):
    first = await start_app(settings_for(db_url, model.url))
    c = await Client.connect(first.ws_url("minseo"))
    await c.say("my favourite colour is teal")
    await c.recv()
    await c.close()
    await first.stop()

    second = await start_app(settings_for(db_url, model.url))
    try:
        c = await Client.connect(second.ws_url("minseo"))
        await c.say("@chatbot what is my favourite colour?")
        await c.answer()
        assert ("user", "minseo: my favourite colour is teal") in contents(model.chat_requests()[0])
        await c.close()
    finally:
        await second.stop()


async def test_streaming_is_opt_in(app, model):
    model.then(Reply("one two three four", chunks=["one ", "two ", "three ", "four"]))
    streamer = await Client.connect(app.ws_url("s", stream="1"))
    plain = await Client.connect(app.ws_url("p"))
    await plain.say("@chatbot count")
    final = await streamer.answer()
    typing = [f for f in streamer.frames if f["type"] == "typing"]
    deltas = [f for f in streamer.frames if f["type"] == "delta"]
    assert typing and typing[0]["nickname"] == "chatbot"
    assert "".join(d["message"] for d in deltas) == "one two three four"
    assert all(d["stream"] == final["stream"] for d in deltas)
    assert final["message"] == "one two three four"
    plain_answer = await plain.answer()
    assert plain_answer["message"] == "one two three four"
    await asyncio.sleep(0.2)
    with_plain = [f for f in plain.frames if f["nickname"] == "chatbot"]
    assert len(with_plain) == 1 and all(f["type"] == "text" for f in plain.frames)
    await streamer.close()
    await plain.close()
