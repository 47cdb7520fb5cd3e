"""Each built-in tag over the real web chat, against the loopback model server."""

from __future__ import annotations

from typing import Any

from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp


async def say(c: Client, nick: str, text: str) -> dict[str, Any]:
    """Send and wait for the echo, so the next message is stored after this one."""
    await c.say(text)
    return await c.until(
        lambda f: f["type"] == "text" and f["nickname"] == nick and f["message"] == text
    )


def roles_and_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


async def test_summary_n_reads_exactly_the_last_n_messages_including_plain_chat(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("soyeon"))
    for text in ("m1", "m2", "m3", "@dragon hi"):
        await say(c, "soyeon", text)
    dragon = await c.answer(nickname="dragon")
    assert dragon["message"] == "answer 1"
    for text in ("m4", "m5"):
        await say(c, "soyeon", text)
    await say(c, "soyeon", "@summary 5")
    answer = await c.answer(nickname="summary")
    assert answer["message"] == "answer 2"
    body = model.chat_requests()[-1]
    sent = roles_and_texts(body)
    assert sent[0][0] == "system" and sent[0][1].startswith("You summarise a group chat.")
    assert sent[1:] == [
        ("user", "soyeon: m3"),
        ("user", "soyeon: @dragon hi"),  # a question to another tag keeps its tag
        ("user", "dragon: answer 1"),  # another tag's answer: a named participant
        ("user", "soyeon: m4"),
        ("user", "soyeon: m5"),
        ("user", "soyeon asks: summarise the 5 messages above."),
    ]
    assert body["temperature"] == 0.3 and body["model"] == "gpt-4.1"
    await c.close()


async def test_summary_without_a_number_reads_its_configured_history(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("minho"))
    for text in ("one", "two"):
        await say(c, "minho", text)
    await say(c, "minho", "@Summary")  # case-insensitive, no text needed
    await c.answer(nickname="summary")
    sent = roles_and_texts(model.chat_requests()[-1])
    assert sent[1:] == [
        ("user", "minho: one"),
        ("user", "minho: two"),
        ("user", "minho asks: summarise the 40 messages above."),
    ]
    await c.close()


async def test_translate_with_and_without_a_language_code(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("jisu"))
    await say(c, "jisu", "plain chat the translator must not read")
    cases = [
        ("@translate en 안녕하세요", "English (en)", "안녕하세요"),
        ("@translate ko Good morning", "Korean (ko)", "Good morning"),
        ("@translate 오늘 날씨 좋네요", "English (en)", "오늘 날씨 좋네요"),
        ("@translate: See you tomorrow", "Korean (ko)", "See you tomorrow"),
        ("@translate it is raining", "Korean (ko)", "it is raining"),  # "it" is not a code
    ]
    for i, (text, target, body_text) in enumerate(cases, start=1):
        await say(c, "jisu", text)
        answer = await c.answer(nickname="translate")
        assert answer["message"] == f"answer {i}"
        body = model.chat_requests()[-1]
        system, *turns = roles_and_texts(body)
        assert system[1].startswith("You are a translator.")
        assert system[1].endswith(f"Target language: {target}. Reply with the translation only.")
        assert turns == [("user", body_text)]  # the text only: no history, no name, no tag
        assert body["temperature"] == 0.2
    await c.close()


async def test_tag_without_text_gets_its_usage_hint_and_no_model_call(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("jisu"))
    for text in ("@translate", "@translate en", "@counsel", "@dragon:"):
        await say(c, "jisu", text)
        tag = text.strip("@:").split()[0]
        hint = await c.answer(nickname=tag)
        assert hint["error"] == "usage_hint"
        assert f"@{tag}" in hint["message"] and "\n" not in hint["message"]
    assert model.chat_requests() == []
    await c.close()


async def test_counsel_has_a_careful_prompt_and_reads_the_chat(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("hana"))
    await say(c, "hana", "exams are next week")
    await say(c, "hana", "@counsel I feel so stressed")
    answer = await c.answer(nickname="counsel")
    assert answer["message"] == "answer 1"
    body = model.chat_requests()[-1]
    system, *turns = roles_and_texts(body)
    assert "never diagnose" in system[1]
    assert "109" in system[1] and "1393" in system[1] and "119" in system[1]
    assert turns == [
        ("user", "hana: exams are next week"),
        ("user", "hana: I feel so stressed"),
    ]
    assert body["temperature"] == 0.5
    await c.close()


async def test_dragon_and_chatbot_answer_under_their_own_names(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("yuna"))
    await say(c, "yuna", "@dragon Tell me a story about a dragon")
    dragon = await c.answer(nickname="dragon")
    await say(c, "yuna", "@chatbot what did the dragon say?")
    chatbot = await c.answer(nickname="chatbot")
    assert (dragon["message"], chatbot["message"]) == ("answer 1", "answer 2")
    first, second = model.chat_requests()
    assert "ancient, kindly dragon" in first["messages"][0]["content"]
    assert first["temperature"] == 0.9
    assert second["messages"][0]["content"].startswith("You are chatbot")
    assert "temperature" not in second  # @chatbot keeps the environment's (unset) sampling
    # The dragon's answer is a named participant for @chatbot, not its own words.
    assert second["messages"][1:] == [
        {"role": "user", "content": "yuna: @dragon Tell me a story about a dragon"},
        {"role": "user", "content": "dragon: answer 1"},
        {"role": "user", "content": "yuna: what did the dragon say?"},
    ]
    await c.close()


async def test_a_tags_name_is_a_reserved_nickname(app: RunningApp) -> None:
    c = await Client.connect(app.ws_url("Dragon"))
    frame = await c.recv()
    assert frame["type"] == "error" and "reserved for the bot" in frame["message"]
    await c.close()
