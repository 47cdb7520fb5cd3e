"""Long memory's benchmarks: recall at a budget, and what recall costs a turn at a million messages.

    python -m bench.recall [--quick] [--only budget,cost] [--postgres URL]

1. Recall at a budget. A synthetic channel of 5,000 messages (several speakers, Korean and
   English, with distractors that mention a topic without its answer) has 50 facts planted at
   random depths; 50 questions ask about them, one after another, at the end. For each
   question: is the planted message in the context the model is sent, and how many tokens is
   that context? Ours (the real core and SQLStore, an instant model) against two baselines in
   the same run: the course's way (the last 30 messages) and the whole history. Summaries are
   left out of "in context" (the instant model writes none): only the message itself counts.
   Ours runs on SQLite, and on PostgreSQL too when there is a server (`--postgres URL`, or
   CHATBOT_TEST_POSTGRES_URL).
2. Cost of recall. The core's time per addressed turn (store the question, read the window,
   search the channel's history, assemble, store the answer) with 1,000 and with 1,000,000
   stored messages of synthetic chat in the channel, on SQLite and PostgreSQL: median and p99,
   measured as bench/turn_cost.py measures (as served, after a few untimed turns).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sqlite3
import statistics
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.turn_cost import (
    WARMUP_TURNS,
    NullTarget,
    index_postgres,
    index_sqlite,
    steady_summary,
    timed,
)
from bench.turn_cost import fill_postgres as fill_rows
from bot.context import ModelRequest
from bot.personas import default_persona
from bot.providers.base import DeltaSink, ModelReply
from bot.service import ChatService
from bot.settings import BotSettings, MemorySettings
from bot.tokens import estimate_tokens
from bot.types import Author, IncomingMessage, NewMessage, Usage
from memory.store import SQLStore

ROOM = "web:bench"
PEOPLE = ["민호", "소연", "지수", "유나", "Ana", "Ben", "Carlos", "Dmitri", "Eun", "Farah"]
CHATTER_EN = (
    "lunch sounds good|who is bringing the slides|the bus was late again|nice photo|let me check"
    " the wiki|I pushed a fix|can someone review my branch|coffee later?|the build is green|see"
    " you tomorrow|thanks everyone|good morning|that lecture was long|I missed the beginning|is"
    " the room booked|my laptop died|the printer is jammed|great idea|I agree with that|not sure"
    " about this one|let's vote|happy friday|weekend plans?|the test passed|the test failed"
).split("|")
CHATTER_KO = (
    "점심 먹었어?|회의 끝났어|좋아요|오늘 너무 피곤하다|버스가 또 늦었어|사진 잘 나왔네|내일 봐|"
    "고마워요|다들 수고했어|과제 어려웠어|커피 마실 사람|날씨 좋다|시험 공부 해야지|주말에 뭐 해|"
    "그거 좋은 생각이다|잘 모르겠어|투표하자|빌드 성공했어|테스트 실패했어|노트북 배터리 없어"
).split("|")
# (topic, answer, question): each topic is only in its fact, its question and its distractors.
TOPICS_EN = [
    ("wifi password", "moonlight42", "what was the wifi password?"),
    ("parking spot", "B2-17", "where is the parking spot?"),
    ("project codename", "Bluefin", "what is the project codename?"),
    ("final exam room", "hall 305", "which room is the final exam in?"),
    ("team dinner", "Thursday at 7", "when is the team dinner?"),
    ("server password", "tangerine-9", "what is the server password?"),
    ("lab key", "in the blue drawer", "where is the lab key?"),
    ("poster deadline", "the 21st", "when is the poster deadline?"),
    ("demo laptop", "Ben's ThinkPad", "which laptop is the demo laptop?"),
    ("budget limit", "300 dollars", "what is our budget limit?"),
    ("field trip", "the science museum", "where does the field trip go?"),
    ("guest speaker", "Dr. Okafor", "who is the guest speaker?"),
    ("locker combination", "19-4-33", "what is the locker combination?"),
    ("group chat rule", "no memes before noon", "what was the group chat rule?"),
    ("review meeting", "moved to Monday", "what happened to the review meeting?"),
    ("office hours", "Tuesdays 3 to 5", "when are office hours?"),
    ("mascot name", "Sir Quackers", "what is the mascot name?"),
    ("printer queue", "named Gutenberg", "what is the printer queue called?"),
    ("dataset source", "the city open data portal", "where did the dataset come from?"),
    ("backup drive", "on the top shelf", "where is the backup drive?"),
    ("deadline", "moved to Friday the 13th", "what did we decide about the deadline?"),
    ("venue", "the rooftop garden", "what was the venue again?"),
    ("budget spreadsheet", "shared in the drive folder Money", "where is the budget spreadsheet?"),
    ("release date", "March 30", "what is the release date?"),
    ("shuttle bus", "leaves at 8:15", "when does the shuttle bus leave?"),
]
TOPICS_KO = [
    ("동아리방 비밀번호", "4821", "동아리방 비밀번호가 뭐였지?"),
    ("회식 장소", "강남역 고깃집", "회식 장소가 어디였어?"),
    ("발표 순서", "민호 다음에 소연", "발표 순서 어떻게 돼?"),
    ("중간고사 범위", "3장부터 7장까지", "중간고사 범위가 어디까지야?"),
    ("엠티 날짜", "다음 달 둘째 주 토요일", "엠티 날짜 언제야?"),
    ("과제 제출처", "이클래스 게시판", "과제 제출처가 어디였지?"),
    ("팀 이름", "푸른고래", "우리 팀 이름이 뭐였어?"),
    ("스터디 시간", "수요일 저녁 8시", "스터디 시간 언제로 했지?"),
    ("교수님 면담", "금요일 오후 2시", "교수님 면담 언제야?"),
    ("졸업 작품 주제", "지역 날씨 챗봇", "졸업 작품 주제가 뭐였지?"),
    ("택배 보관함", "정문 옆 편의점", "택배 보관함 어디야?"),
    ("장학금 마감", "이번 주 목요일", "장학금 마감이 언제야?"),
    ("축제 부스", "떡볶이 가게", "축제 부스 뭐 하기로 했어?"),
    ("노트북 대여", "도서관 2층 데스크", "노트북 대여 어디서 해?"),
    ("기숙사 통금", "새벽 1시", "기숙사 통금 몇 시야?"),
    ("실험 조", "3조", "우리 실험 조가 몇 조였지?"),
    ("단톡방 규칙", "밤 11시 이후 알림 금지", "단톡방 규칙이 뭐였지?"),
    ("프로젝트 저장소", "깃허브 organization 푸른고래", "프로젝트 저장소 어디야?"),
    ("회비", "만 오천 원", "회비 얼마였지?"),
    ("졸업 사진 촬영", "본관 앞 잔디밭", "졸업 사진 촬영 어디서 해?"),
    ("세미나실 예약", "김지수 이름으로", "세미나실 예약 누구 이름으로 했어?"),
    ("조교 이메일", "ta.kim 학교 메일", "조교 이메일이 뭐였지?"),
    ("기말 발표일", "12월 18일", "기말 발표일이 언제야?"),
    ("동아리 티셔츠 색", "남색", "동아리 티셔츠 색 뭐로 했어?"),
    ("버스 정류장", "후문 정류장", "어느 버스 정류장에서 만나?"),
]


class InstantModel:
    """Answers at once; keeps the requests, so the context sent can be measured."""

    name = "instant"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        self.requests.append(request)
        await on_delta("ok")
        return ModelReply("ok", Usage(10, 1, 11, "instant", "instant"))


def request_tokens(request: ModelRequest) -> int:
    return estimate_tokens(request.system) + sum(estimate_tokens(t.content) for t in request.turns)


@dataclass
class Planted:
    topic: str
    fact: str
    question: str
    position: int
    message_id: int = 0


def channel_script(count: int, rng: random.Random) -> tuple[list[tuple[str, str]], list[Planted]]:
    """(author, text) for `count` messages, with the 50 facts and their distractors placed."""
    said = [
        (rng.choice(PEOPLE), rng.choice(CHATTER_KO if rng.random() < 0.5 else CHATTER_EN))
        for _ in range(count)
    ]
    planted: list[Planted] = []
    depths = rng.sample(range(50, count - 100), len(TOPICS_EN) + len(TOPICS_KO))
    for (topic, answer, question), at in zip(TOPICS_EN + TOPICS_KO, depths, strict=True):
        korean = topic in {t for t, _, _ in TOPICS_KO}
        fact = f"{topic}는 {answer}야" if korean else f"the {topic} is {answer}"
        if topic == "deadline":
            fact = f"the deadline {answer}"
        said[at] = (rng.choice(PEOPLE), fact)
        planted.append(Planted(topic, fact, question, at))
        for _ in range(2):  # distractors: the topic without its answer
            d = rng.randrange(count)
            if d not in depths:
                said[d] = (
                    rng.choice(PEOPLE),
                    f"{topic} 누가 알아?" if korean else f"does anyone remember the {topic}?",
                )
    return said, planted


async def fill_store(store: SQLStore, said: list[tuple[str, str]]) -> list[int]:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ids: list[int] = []
    for i, (author, text) in enumerate(said):
        stored = await store.add(
            NewMessage(
                ROOM, "web", "user", f"web:{author}", author, text, start + timedelta(minutes=i)
            )
        )
        assert stored is not None
        ids.append(stored.id)
    return ids


async def recall_at_budget(url: str, count: int = 5000) -> dict[str, tuple[float, float]]:
    """(share of questions with their fact in context, mean tokens per turn), per strategy,
    in the empty database at `url`."""
    rng = random.Random(13)
    said, planted = channel_script(count, rng)
    store = SQLStore.from_url(url)
    await store.create_schema()
    ids = await fill_store(store, said)
    for p in planted:
        p.message_id = ids[p.position]
    settings = BotSettings(memory=MemorySettings(summaries=False))
    persona = default_persona(settings)
    model = InstantModel()
    service = ChatService(store, lambda _: model, settings, {persona.name: persona})
    found, tokens = 0, []
    lines = [f"{a}: {t}" for a, t in said]
    whole = estimate_tokens(persona.system_prompt) + sum(estimate_tokens(x) for x in lines)
    last30_found = 0
    for p in planted:
        message = IncomingMessage("web", ROOM, None, Author("web:q", "q"), f"@chatbot {p.question}")
        received = await service.receive(message, NullTarget())
        assert received.answer is not None
        await received.answer
        request = model.requests[-1]
        sent = request.system + "\n" + "\n".join(t.content for t in request.turns)
        found += p.fact in sent
        tokens.append(request_tokens(request))
        last30_found += p.position >= count - 30
    await store.close()
    last30 = estimate_tokens(persona.system_prompt) + sum(estimate_tokens(x) for x in lines[-30:])
    n = len(planted)
    return {
        "ours": (found / n, statistics.mean(tokens)),
        "last 30 messages": (last30_found / n, float(last30)),
        "whole history": (1.0, float(whole)),
    }


def _vocabulary() -> tuple[list[str], list[float]]:
    """5,000 pseudo-words and 1,500 two-syllable Hangul words, with Zipf weights: like chat,
    a few words are everywhere and most are rare."""
    rng = random.Random(3)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = {"".join(rng.choices(syllables, k=rng.randint(2, 3))) for _ in range(6000)}
    english = sorted(words)[:5000]
    hangul = {
        chr(0xAC00 + rng.randrange(11172)) + chr(0xAC00 + rng.randrange(11172)) for _ in range(1500)
    }
    vocabulary = english + sorted(hangul)
    rng.shuffle(vocabulary)
    return vocabulary, [1 / (rank + 1) ** 1.1 for rank in range(len(vocabulary))]


VOCABULARY, WEIGHTS = _vocabulary()


def synthetic(i: int, rng: random.Random) -> str:
    return " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(4, 12)))


def fill_sqlite(path: str, rows: int) -> None:
    """Bulk-insert `rows` messages of synthetic chat and index them (outside the timing)."""
    rng = random.Random(5)
    conn = sqlite3.connect(path)
    now = datetime.now(UTC).isoformat(sep=" ")
    for start in range(0, rows, 50_000):
        conn.executemany(
            "INSERT INTO messages (channel, platform, role, author_id, author_name, text,"
            " created_at, flagged, author_is_bot) VALUES (?, 'web', 'user', 'u', 'u', ?, ?, 0, 0)",
            ((ROOM, synthetic(i, rng), now) for i in range(start, min(rows, start + 50_000))),
        )
    conn.commit()
    conn.close()
    index_sqlite(path)


async def fill_postgres(url: str, rows: int) -> None:
    """Messages of synthetic chat, indexed (outside the timing)."""
    rng = random.Random(5)
    await fill_rows(url, rows, lambda i: synthetic(i, rng))
    await index_postgres(url)


async def time_turns(store: SQLStore, turns: int) -> list[float]:
    await steady_summary(store)
    settings = BotSettings()
    persona = default_persona(settings)
    model = InstantModel()
    service = ChatService(store, lambda _: model, settings, {persona.name: persona})
    rng = random.Random(9)
    asked = [
        f"@chatbot {' '.join(rng.choices(VOCABULARY, WEIGHTS, k=3))}?"
        for _ in range(WARMUP_TURNS + turns)
    ]
    times = await timed(service, asked)
    assert any("recalled" in r.system for r in model.requests), "recall never ran"
    await service.close()
    return times


async def cost_sqlite(workdir: str, rows: int, turns: int) -> list[float]:
    path = os.path.join(workdir, f"cost-{rows}.db")
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.create_schema()
    await asyncio.to_thread(fill_sqlite, path, rows)
    try:
        return await time_turns(store, turns)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def postgres_database(base: str) -> AsyncIterator[str]:
    """The URL of a new database on the server of `base`, dropped afterwards."""
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"bench_recall_{uuid.uuid4().hex[:8]}"
    dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def cost_postgres(base: str, rows: int, turns: int) -> list[float]:
    async with postgres_database(base) as url:
        store = SQLStore.from_url(url)
        try:
            await store.create_schema()
            await fill_postgres(url, rows)
            return await time_turns(store, turns)
        finally:
            await store.close()


def p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[-1] if len(times) >= 2 else times[0]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10,000 instead of 1,000,000")
    parser.add_argument("--only", default="budget,cost")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("CHATBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        if "budget" in parts:
            print("\nrecall at a budget: 5,000 messages, 50 planted facts, 50 questions")
            print(f"{'strategy':>18} | {'facts in context':>16} | {'tokens/turn':>11} | of whole")
            results = await recall_at_budget(f"sqlite+aiosqlite:///{workdir}/budget.db")
            if args.postgres:
                async with postgres_database(args.postgres) as url:
                    ours = (await recall_at_budget(url))["ours"]
                results = {"ours, SQLite": results.pop("ours"), "ours, PostgreSQL": ours, **results}
            whole = results["whole history"][1]
            for name, (share, tokens) in results.items():
                print(f"{name:>18} | {share:>15.0%} | {tokens:>11,.0f} | {tokens / whole:>7.1%}")
        if "cost" in parts:
            big = 10_000 if args.quick else 1_000_000
            engines = [("SQLite", None)] + (
                [("PostgreSQL", args.postgres)] if args.postgres else []
            )
            print(f"\ncore time per turn with recall, 1,000 vs {big:,} stored ({args.turns} turns)")
            print(f"{'engine':>10} | {'stored':>9} | {'median ms':>9} | {'p99 ms':>7} | ratio")
            for engine, url in engines:
                measured = {}
                for rows in (1_000, big):
                    if url is None:
                        times = await cost_sqlite(workdir, rows, args.turns)
                    else:
                        times = await cost_postgres(url, rows, args.turns)
                    measured[rows] = times
                base = statistics.median(measured[1_000])
                for rows, times in measured.items():
                    med = statistics.median(times)
                    print(
                        f"{engine:>10} | {rows:>9,} | {med * 1000:>9.2f} | "
                        f"{p99(times) * 1000:>7.2f} | {med / base:.2f}x"
                    )


if __name__ == "__main__":
    asyncio.run(main())
