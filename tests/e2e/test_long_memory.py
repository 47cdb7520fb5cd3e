"""Long memory end to end: the real app, the real openai SDK against the loopback model, SQLite and
PostgreSQL. What was said long ago reaches the model; a summary covers it; people can see and
steer what is remembered."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.types import NewMessage, StoredMessage
from memory.store import SQLStore
from testing.stubs.model_server import ModelServer, Reply, Status
from tests.databases import ENGINES, fresh_database
from tests.helpers import Client, RunningApp, settings_for, start_app

FILLER = (
    "lunch sounds good, who is bringing the slides, the bus was late again, nice photo, "
    "let me check the wiki, I pushed a fix, can someone review, coffee later, the build is "
    "green, see you tomorrow, thanks everyone, good morning, 점심 먹었어, 회의 끝났어, 좋아요"
).split(", ")
FACT = "the deadline moved to Friday the 13th"
SUMMARY_MARK = "You keep the memory of a group chat."


def is_summary(body: dict[str, Any]) -> bool:
    return str(body["messages"][0]["content"]).startswith(SUMMARY_MARK)


def summarising(model: ModelServer) -> None:
    """Answers summary requests with a digest that names what they carried."""

    def respond(body: dict[str, Any]) -> Reply:
        if is_summary(body):
            said = str(body["messages"][-1]["content"])
            # Like a real summary, it carries forward what the current one already says.
            remembered = FACT in said or "deadline Friday 13th" in said
            found = "deadline Friday 13th (minho)" if remembered else "small talk"
            return Reply(f"- {found}")
        return Reply(f"answer {len(model.requests)}")

    model.default = respond


async def seed(
    url: str, channel: str, count: int, facts: dict[int, tuple[str, str]]
) -> dict[int, StoredMessage]:
    """`count` messages of plain chat in `channel`, `facts[i] = (author, text)` at position i."""
    store = SQLStore.from_url(url)
    await store.create_schema()
    rng = random.Random(7)
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    kept: dict[int, StoredMessage] = {}
    for i in range(count):
        author, said = facts.get(i, (rng.choice(["ana", "ben", "jisu"]), rng.choice(FILLER)))
        stored = await store.add(
            NewMessage(
                channel=channel,
                platform="web",
                role="user",
                author_id=f"web:{author}",
                author_name=author,
                text=said,
                created_at=start + timedelta(minutes=i),
            )
        )
        assert stored is not None
        if i in facts:
            kept[i] = stored
    await store.close()
    return kept


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


async def ask(
    app: RunningApp, question: str, room: str = "lobby", who: str = "soyeon"
) -> dict[str, Any]:
    c = await Client.connect(app.ws_url(who, room=room))
    try:
        await c.say(question)
        return await c.answer(timeout=20)
    finally:
        await c.close()


def question_request(model: ModelServer, question: str) -> dict[str, Any]:
    found = [b for b in model.chat_requests() if question in str(b["messages"][-1]["content"])]
    assert found, f"no request carried {question!r}"
    return found[-1]


async def test_a_fact_said_at_message_100_of_2000_reaches_the_question_and_the_summary(
    db: str, model: ModelServer
) -> None:
    summarising(model)
    facts = await seed(db, "web:lobby", 2000, {100: ("minho", FACT)})
    app = await start_app(settings_for(db, model.url))
    try:
        await ask(app, "@chatbot what did we decide about the deadline?")
        request = question_request(model, "what did we decide about the deadline?")
        system = request["messages"][0]["content"]
        assert "Older messages recalled" in system
        assert f"[2026-03-01 10:40] minho: {FACT}" in system  # authored and dated
        assert len(request["messages"]) <= 42  # the recent window is still the newest turns
        await app.app.state.service.idle()  # the summary is written in the background
        summary = await app.app.state.store.summary("web:lobby")
        assert summary is not None and summary.covers_up_to_id > facts[100].id
        assert "deadline Friday 13th" in summary.text  # folded forward from the batch with it
        batches = [b for b in model.chat_requests() if is_summary(b)]
        assert any(FACT in str(b["messages"][-1]["content"]) for b in batches)
        # The transcript is untouched by summarising.
        async with httpx.AsyncClient() as http:
            first = (await http.get(f"{app.http}/messages", params={"limit": 1000})).json()
        assert len(first) == 1000
    finally:
        await app.stop()


async def test_summaries_survive_a_restart_and_a_summary_failure_leaves_turns_working(
    tmp_path: Path, model: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    config = tmp_path / "chatbot.toml"
    config.write_text('[memory]\nsummary_model = "broken-summarizer"\n')
    await seed(url, "web:lobby", 300, {20: ("minho", FACT)})

    def respond(body: dict[str, Any]) -> Reply | Status:
        if body["model"] == "broken-summarizer":
            return Status(500, {"error": {"message": "the summarizer is down"}})
        return Reply("still answering")

    model.default = respond
    caplog.set_level(logging.WARNING, logger="bot.long_memory")
    broken = await start_app(settings_for(url, model.url, CHATBOT_CONFIG=str(config)))
    try:
        answer = await ask(broken, "@chatbot are you there?")
        assert answer["message"] == "still answering"
        await broken.app.state.service.idle()
        assert await broken.app.state.store.summary("web:lobby") is None
        assert any("summary of web:lobby not updated" in r.getMessage() for r in caplog.records)
        again = await ask(broken, "@chatbot and now?")  # the next turn does not wait for it
        assert again["message"] == "still answering"
    finally:
        await broken.stop()

    summarising(model)
    working = await start_app(settings_for(url, model.url))
    try:
        await ask(working, "@chatbot hello")
        await working.app.state.service.idle()
        assert await working.app.state.store.summary("web:lobby") is not None
    finally:
        await working.stop()
    restarted = await start_app(settings_for(url, model.url))  # a new process, the same file
    try:
        await ask(restarted, "@chatbot remind me of the plan")
        system = question_request(model, "remind me of the plan")["messages"][0]["content"]
        assert "Earlier in this conversation (a summary" in system
        assert "deadline Friday 13th" in system
    finally:
        await restarted.stop()


async def test_korean_is_recalled_and_channels_never_cross(db: str, model: ModelServer) -> None:
    await seed(db, "web:one", 120, {5: ("소연", "내 이름은 소연이야")})
    await seed(db, "web:two", 120, {5: ("민선", "내 이름은 민선이야, 소연 아니야")})
    app = await start_app(settings_for(db, model.url))
    try:
        await ask(app, "@chatbot 소연이 누구야?", room="one")
        system = question_request(model, "소연이 누구야?")["messages"][0]["content"]
        assert "소연: 내 이름은 소연이야" in system
        assert "민선" not in system  # the other room's words never reach this room's request
        await ask(app, "@chatbot 민선이 누구야?", room="two")
        other = question_request(model, "민선이 누구야?")["messages"][0]["content"]
        assert "민선이야, 소연 아니야" in other and "내 이름은 소연이야\n" not in other
    finally:
        await app.stop()


async def test_forget_me_removes_exactly_that_persons_messages(
    tmp_path: Path, model: ModelServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    await seed(
        url,
        "web:lobby",
        60,
        {3: ("alice", "my phone number is 010-1234"), 4: ("bob", "bob's phone is 010-9999")},
    )
    app = await start_app(settings_for(url, model.url))
    try:
        reply = await ask(app, "@chatbot forget me", who="alice")
        assert "deleted your 2 messages" in reply["message"]  # the fact, and the command
        async with httpx.AsyncClient() as http:
            left = (await http.get(f"{app.http}/messages", params={"limit": 1000})).json()
        said = [(m["nickname"], m["message"]) for m in left]
        assert ("alice", "my phone number is 010-1234") not in said
        assert ("bob", "bob's phone is 010-9999") in said
        await ask(app, "@chatbot what is the phone number?", who="carol")
        system = question_request(model, "what is the phone number?")["messages"][0]["content"]
        assert "010-9999" in system and "010-1234" not in system  # no longer recalled
    finally:
        await app.stop()


async def test_the_memory_command_shows_what_is_held_and_how_full_the_context_was(
    tmp_path: Path, model: ModelServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    summarising(model)
    await seed(url, "web:lobby", 400, {50: ("minho", FACT)})
    app = await start_app(settings_for(url, model.url))
    try:
        await ask(app, "@chatbot when is the deadline?")
        await app.app.state.service.idle()
        report = (await ask(app, "@chatbot memory"))["message"]
        # 400, the question, its answer, and this command (stored; kept out of context)
        assert "I hold 403 messages of this channel." in report
        assert "Summary:" in report and "older messages" in report
        assert "deadline Friday 13th" in report
        assert "Last answer's context:" in report and "recalled" in report
        assert "(1 messages)" in report  # the fact, recalled for the question
    finally:
        await app.stop()


async def test_member_scope_gives_each_person_their_own_thread(
    tmp_path: Path, model: ModelServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    config = tmp_path / "chatbot.toml"
    config.write_text('[channels."web:care"]\nscope = "member"\n')
    app = await start_app(settings_for(url, model.url, CHATBOT_CONFIG=str(config)))
    try:
        ana = await Client.connect(app.ws_url("ana", room="care"))
        ben = await Client.connect(app.ws_url("ben", room="care"))
        await ana.say("@chatbot I am worried about my exam")
        await ana.answer()
        await ben.say("I think my cat is sick")
        await ben.until(lambda f: f.get("message") == "I think my cat is sick")
        await ana.say("@chatbot what was I worried about?")
        await ana.answer()
        sent = [
            m["content"] for m in question_request(model, "what was I worried about?")["messages"]
        ]
        assert "ana: I am worried about my exam" in sent
        assert not any("cat" in str(m) for m in sent)  # ben's words are not in ana's thread
        await ana.close()
        await ben.close()
    finally:
        await app.stop()


async def test_embeddings_run_in_the_background_and_add_semantic_recall(
    tmp_path: Path, model: ModelServer
) -> None:
    """A word form the full-text index does not match ("deadlines" for "deadline") is found by
    meaning, once embedded; without embeddings it is not recalled."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    await seed(url, "web:lobby", 100, {10: ("minho", "all project deadlines were postponed")})
    plain = await start_app(settings_for(url, model.url))
    try:
        await ask(plain, "@chatbot the deadline?")
        assert "postponed" not in question_request(model, "the deadline?")["messages"][0]["content"]
    finally:
        await plain.stop()
    semantic = await start_app(
        settings_for(url, model.url, CHATBOT_EMBEDDING_MODEL="text-embedding-3-small")
    )
    try:
        c = await Client.connect(semantic.ws_url("ana"))
        await c.say("a new message wakes the embedder")
        await c.until(lambda f: f.get("message") == "a new message wakes the embedder")
        await c.close()
        for _ in range(100):  # embedded in the background, in batches
            await asyncio.sleep(0.05)
            if not await semantic.app.state.store.unembedded("text-embedding-3-small", 1):
                break
        embeds = model.embedding_requests()
        assert embeds and all(len(b["input"]) <= 64 for b in embeds)
        assert embeds[0]["model"] == "text-embedding-3-small"
        await ask(semantic, "@chatbot the deadline?")
        system = question_request(model, "the deadline?")["messages"][0]["content"]
        assert "all project deadlines were postponed" in system
    finally:
        await semantic.stop()
