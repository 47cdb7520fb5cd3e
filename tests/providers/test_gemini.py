"""gemini: system_instruction, user/model contents, thinking config, thoughts and blocks."""

from __future__ import annotations

import pytest

from bot.errors import USER_LINES, ErrorKind
from testing.stubs.provider_server import GeminiReply, ProviderServer
from tests.helpers import Client, start_app
from tests.provider_helpers import provider_settings, stored


async def test_wire_carries_system_instruction_contents_and_config(
    db_url: str, pserver: ProviderServer
) -> None:
    settings = provider_settings(
        db_url,
        pserver,
        "gemini",
        CHATBOT_THINKING_BUDGET="0",
        CHATBOT_TEMPERATURE="0.3",
        CHATBOT_TOP_P="0.9",
        CHATBOT_MAX_COMPLETION_TOKENS="256",
    )
    assert settings.bot.model.model == "gemini-2.5-flash"  # the default when unset
    app = await start_app(settings)
    try:
        soyeon = await Client.connect(app.ws_url("soyeon"))
        minsun = await Client.connect(app.ws_url("minsun"))
        await soyeon.say("@chatbot 안녕")
        assert (await soyeon.answer())["message"] == "answer 1"
        await minsun.say("나도 왔어")
        await soyeon.say("@chatbot 누가 왔어?")
        assert (await soyeon.answer())["message"] == "answer 2"
        await soyeon.close()
        await minsun.close()
    finally:
        await app.stop()
    assert pserver.requests[-1].path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    assert pserver.gemini_queries == ["alt=sse", "alt=sse"]
    assert pserver.requests[-1].headers["x-goog-api-key"] == "gemini-test-not-a-secret"
    body = pserver.gemini_requests()[-1]
    assert body["systemInstruction"]["parts"] == [{"text": settings.bot.system_prompt}]
    # consecutive user turns are merged: Gemini wants user and model to alternate
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "answer 1"}]
    assert body["contents"][2]["parts"] == [
        {"text": "minsun: 나도 왔어"},
        {"text": "soyeon: 누가 왔어?"},
    ]
    config = body["generationConfig"]
    assert config["temperature"] == 0.3 and config["topP"] == 0.9
    assert config["maxOutputTokens"] == 256
    thinking = config["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 0


async def test_thought_parts_never_reach_the_chat_and_usage_is_stored(
    db_url: str, pserver: ProviderServer
) -> None:
    pserver.then(GeminiReply("최종 답변", thought="SECRET reasoning", thoughts_tokens=4))
    app = await start_app(provider_settings(db_url, pserver, "gemini"))
    try:
        c = await Client.connect(app.ws_url("soyeon", stream="1"))
        await c.say("@chatbot 생각해봐")
        answer = await c.answer()
        await c.close()
        rows = await app.app.state.store.recent("web:lobby", 10)
    finally:
        await app.stop()
    assert answer["message"] == "최종 답변"
    assert not any("SECRET" in str(f.get("message")) for f in c.frames)
    usage = rows[-1].usage
    assert usage is not None and usage.provider == "gemini"
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (13, 9, 22)


async def test_blocked_answers_are_a_clear_line(db_url: str, pserver: ProviderServer) -> None:
    pserver.then(GeminiReply("", finish_reason="SAFETY"), GeminiReply("", block_reason="OTHER"))
    pserver.then(GeminiReply("", finish_reason="STOP"))  # no text at all
    app = await start_app(provider_settings(db_url, pserver, "gemini"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        lines = []
        for text in ("@chatbot 하나", "@chatbot 둘", "@chatbot 셋"):
            await c.say(text)
            lines.append(await c.answer())
        await c.say("@chatbot 넷")
        after = await c.answer()
        await c.close()
        kept = [m["message"] for m in await stored(app)]
    finally:
        await app.stop()
    assert [f["error"] for f in lines] == ["blocked", "blocked", "bad_response"]
    assert lines[0]["message"] == USER_LINES[ErrorKind.BLOCKED]
    assert lines[2]["message"] == USER_LINES[ErrorKind.BAD_RESPONSE]
    assert after.get("error") is None and after["message"] == "answer 4"
    assert kept[:3] == ["@chatbot 하나", "@chatbot 둘", "@chatbot 셋"]


async def test_gemini_without_a_key_says_what_to_set(db_url: str) -> None:
    from tests.helpers import settings_for

    app = await start_app(settings_for(db_url, None, CHATBOT_PROVIDER="gemini"))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 안녕")
        answer = await c.answer()
        await c.close()
    finally:
        await app.stop()
    assert answer["error"] == "not_configured"
    assert "GEMINI_API_KEY" in answer["message"]


async def test_gemini_embeddings_through_google_genai(pserver: ProviderServer) -> None:
    from bot.providers.embeddings import GeminiEmbedder
    from bot.providers.gemini import build_gemini_client
    from testing.stubs.model_server import hashed_vector

    client = build_gemini_client("gemini-test-not-a-secret", pserver.root, 5.0)
    embedder = GeminiEmbedder(client, "text-embedding-004")
    try:
        vectors = await embedder.embed(["내 이름은 소연이야", "the deadline moved"])
    finally:
        await embedder.aclose()
    assert len(vectors) == 2
    assert vectors[1] == pytest.approx(hashed_vector("the deadline moved"))
    calls = [r for r in pserver.requests if "embedContent" in r.path or "EmbedContents" in r.path]
    assert calls and "text-embedding-004" in calls[0].path
