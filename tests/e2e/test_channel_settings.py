"""Per-channel default persona and system prompt, with Discord threads falling back."""

from __future__ import annotations

from pathlib import Path

from bot.channel_rules import ChannelOverride, ChatRules
from testing.stubs.model_server import ModelServer
from tests.tag_harness import Recorder, incoming, service_from, tell

CONFIG = """
[channels."discord:g1:c1"]
persona = "dragon"
[channels."discord:g1:c2"]
system_prompt = "You are the study-group helper."
[channels."web:stories"]
persona = "Dragon"
system_prompt = "You are a dragon who only tells sea stories."
"""


def test_longest_key_or_colon_prefix_wins() -> None:
    rules = ChatRules(
        channels={
            "discord": ChannelOverride(persona="chatbot"),
            "discord:g1:c1": ChannelOverride(persona="dragon"),
            "discord:g1:c1:t9": ChannelOverride(persona="summary"),
        }
    )
    assert rules.for_channel("discord:g1:c1").persona == "dragon"
    assert rules.for_channel("discord:g1:c1:t5").persona == "dragon"  # thread → parent
    assert rules.for_channel("discord:g1:c1:t9").persona == "summary"  # its own setting
    assert rules.for_channel("discord:g1:c10").persona == "chatbot"  # not a `:` prefix of c1
    assert rules.for_channel("slack:T:C") == ChannelOverride()


async def test_channel_default_persona_and_thread_fallback(
    tmp_path: Path, model: ModelServer
) -> None:
    async with service_from(CONFIG, tmp_path, model) as (service, _):
        target = Recorder()
        await tell(service, incoming("@chatbot hello", "discord:g1:c1"), target)
        await tell(service, incoming("@chatbot hello again", "discord:g1:c1:thread7"), target)
        await tell(service, incoming("@chatbot hello", "discord:g1:c3"), target)
        assert [meta.persona for _, meta in target.sent] == ["dragon", "dragon", "chatbot"]
        systems = [r["messages"][0]["content"] for r in model.chat_requests()]
        assert "ancient, kindly dragon" in systems[0] and "ancient, kindly dragon" in systems[1]
        assert systems[2].startswith("You are chatbot")


async def test_channel_system_prompt_override_applies_to_its_default_persona_only(
    tmp_path: Path, model: ModelServer
) -> None:
    async with service_from(CONFIG, tmp_path, model) as (service, _):
        target = Recorder()
        await tell(service, incoming("@chatbot 질문", "discord:g1:c2:thread1"), target)
        await tell(service, incoming("@translate en 질문", "discord:g1:c2"), target)
        await tell(service, incoming("@chatbot tell me", "web:stories"), target)
        systems = [r["messages"][0]["content"] for r in model.chat_requests()]
        assert systems[0] == "You are the study-group helper."
        assert systems[1].startswith("You are a translator.")
        assert systems[2] == "You are a dragon who only tells sea stories."
        assert target.sent[2][1].persona == "dragon"


async def test_bot_mention_then_tag_name_selects_the_tag_on_discord(
    tmp_path: Path, model: ModelServer
) -> None:
    async with service_from("", tmp_path, model) as (service, _):
        target = Recorder()
        for text in ("a", "b", "c"):
            await tell(service, incoming(text, "discord:g1:c9"), target)
        await tell(service, incoming("@chatbot summary 2", "discord:g1:c9"), target)
        assert target.sent[-1][1].persona == "summary"
        turns = [m["content"] for m in model.chat_requests()[-1]["messages"][1:]]
        assert turns == ["soyeon: b", "soyeon: c", "soyeon asks: summarise the 2 messages above."]
