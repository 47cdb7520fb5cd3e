"""Pure functions of the core: splitting, token counting, context selection (tags: test_addressing)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.context import select_history
from bot.splitting import open_fence, split_message, utf8_len
from bot.tokens import context_window, counter_for, estimate_tokens
from bot.types import StoredMessage

# -- splitting ----------------------------------------------------------------------------


def test_short_text_is_one_part():
    assert split_message("hello", 2000) == ["hello"]


def test_split_prefers_paragraphs_and_respects_the_limit():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(20))
    parts = split_message(text, 500)
    assert all(len(p) <= 500 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_split_closes_and_reopens_code_fences_with_language():
    code = "\n".join(f"    x_{i} = compute({i})  # step" for i in range(200))
    text = "Here is the code:\n\n```python\n" + code + "\n```\n\nDone."
    parts = split_message(text, 2000)
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 2000
        assert part.count("```") % 2 == 0, part[:80]
        assert open_fence(part) is None
    for part in parts[1:-1]:
        assert part.startswith("```python\n")
    body = "".join(p.replace("```python\n", "").replace("\n```", "") for p in parts)
    for i in range(200):
        assert f"x_{i} = compute({i})" in body


def test_split_by_bytes_for_korean():
    text = "안녕하세요. " * 800  # 3 bytes a syllable
    parts = split_message(text, 3500, utf8_len)
    assert all(utf8_len(p) <= 3500 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_split_never_loops_on_unbreakable_text():
    parts = split_message("x" * 5000, 2000)
    assert [len(p) for p in parts] == [1996, 1996, 1008]


# -- tokens -------------------------------------------------------------------------------


def test_token_counting_works_offline_with_the_conservative_estimate():
    count = counter_for("gpt-4.1")  # the tests run with no tiktoken cache: must not download
    assert count is estimate_tokens
    assert count("hello world") >= 3
    assert estimate_tokens("안녕하세요") >= 5 + 4
    assert counter_for("gemini-2.5-flash") is estimate_tokens


def test_context_windows_table_and_override():
    assert context_window("gpt-4.1-mini") == 1_047_576
    assert context_window("gpt-4o-2024-08-06") == 128_000
    assert context_window("llama3.2") == 8_192
    assert context_window("llama3.2", 32_000) == 32_000


# -- context selection --------------------------------------------------------------------


def msg(i: int, role: str, name: str, text: str, tag: str | None = None) -> StoredMessage:
    return StoredMessage(
        id=i,
        channel="web:x",
        platform="web",
        role=role,  # type: ignore[arg-type]
        author_id=name,
        author_name=name,
        text=text,
        created_at=datetime.now(UTC),
        tag=tag,
    )


def test_other_personas_are_named_participants_not_our_own_words():
    history = [
        msg(1, "user", "a", "@summary please"),
        msg(2, "assistant", "summary", "A summary.", tag="summary"),
        msg(3, "assistant", "chatbot", "My own answer.", tag="chatbot"),
        msg(4, "user", "a", "@chatbot and you?"),
    ]
    turns = select_history(history, persona="chatbot", max_turns=10, max_tokens=10_000, count=len)
    assert [(t.role, t.content) for t in turns] == [
        ("user", "a: @summary please"),
        ("user", "summary: A summary."),
        ("assistant", "My own answer."),
        ("user", "a: @chatbot and you?"),
    ]


def test_the_newest_message_is_kept_even_over_budget():
    history = [msg(1, "user", "a", "old"), msg(2, "user", "a", "x" * 100)]
    turns = select_history(history, persona="chatbot", max_turns=10, max_tokens=10, count=len)
    assert [t.content for t in turns] == ["a: " + "x" * 100]
