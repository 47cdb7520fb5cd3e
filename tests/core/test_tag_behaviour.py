"""The small argument handling of @summary and @translate."""

from __future__ import annotations

import pytest

from bot.personas import Persona
from bot.settings import ModelSettings
from bot.tag_behaviour import MAX_SUMMARY_MESSAGES, needs_usage_hint, prepare, target_language


def persona(behaviour: str, needs_text: bool = True) -> Persona:
    return Persona(
        "t", "PROMPT", ModelSettings(), 40, 1000, needs_text=needs_text, behaviour=behaviour
    )


@pytest.mark.parametrize(
    ("text", "code", "body"),
    [
        ("en 안녕하세요", "en", "안녕하세요"),
        ("EN: 안녕하세요", "en", "안녕하세요"),
        ("ko Good morning", "ko", "Good morning"),
        ("ja おはよう", "ja", "おはよう"),
        ("zh-TW 你好", "zh-tw", "你好"),
        ("안녕하세요", "en", "안녕하세요"),
        ("Good morning", "ko", "Good morning"),
        ("こんにちは", "ko", "こんにちは"),
        ("오늘 meeting 있어요", "en", "오늘 meeting 있어요"),  # mostly Hangul
        ("it is raining", "ko", "it is raining"),
        ("xx hello", "ko", "xx hello"),  # not a code we know: all of it is text
    ],
)
def test_target_language(text: str, code: str, body: str) -> None:
    found_code, _, found_body = target_language(text)
    assert (found_code, found_body) == (code, body)


def test_summary_arguments() -> None:
    p = persona("summary", needs_text=False)
    assert prepare(p, "", "bo").history_turns == 41
    assert prepare(p, "5", "bo").history_turns == 6
    assert prepare(p, "999999", "bo").history_turns == MAX_SUMMARY_MESSAGES + 1
    focus = prepare(p, "10 only decisions", "bo")
    assert focus.final_turn == "bo asks: summarise the 10 messages above. Focus: only decisions"


def test_usage_hint_cases() -> None:
    assert needs_usage_hint(persona("translate"), "  ")
    assert needs_usage_hint(persona("translate"), "en")
    assert not needs_usage_hint(persona("translate"), "en hi")
    assert not needs_usage_hint(persona("summary", needs_text=False), "")
    assert needs_usage_hint(persona("chat"), "")
