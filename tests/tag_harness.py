"""ChatService wired from a configuration file, with a ReplyTarget that records what it got."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.delivery import ReplyMeta
from bot.moderation import Moderator
from bot.providers.openai_chat import OpenAIChatProvider, build_openai_client
from bot.providers.openai_moderation import OpenAIModerator
from bot.service import ChatService
from bot.settings import BotSettings, ModelSettings
from bot.types import Author, IncomingMessage
from chatbot.tags_config import build_personas, build_rules, load_config
from memory.store import SQLStore
from testing.stubs.model_server import ModelServer


@dataclass
class Recorder:
    max_length: int = 100_000
    sent: list[tuple[str, ReplyMeta]] = field(default_factory=list)

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, text: str, meta: ReplyMeta) -> Any:
        self.sent.append((text, meta))
        return len(self.sent)


@asynccontextmanager
async def service_from(
    toml: str, tmp: Path, model: ModelServer
) -> AsyncIterator[tuple[ChatService, SQLStore]]:
    path = tmp / "chatbot.toml"
    path.write_text(toml, "utf-8")
    config = load_config(str(path))
    bot = BotSettings(model=ModelSettings(timeout=3))
    store = SQLStore.from_url(f"sqlite+aiosqlite:///{tmp / 'svc.db'}")
    await store.create_schema()
    client = build_openai_client("sk-test-not-a-secret", model.url, 3)
    provider = OpenAIChatProvider(client)
    rules = build_rules(config)
    moderator: Moderator | None = OpenAIModerator(client) if rules.moderation else None
    service = ChatService(
        store,
        lambda _: provider,
        bot,
        build_personas(config, bot),
        rules=rules,
        moderator=moderator,
    )
    try:
        yield service, store
    finally:
        await service.drain(5)
        await store.close()


_counter = iter(range(1, 1_000_000))


def incoming(
    text: str,
    channel: str,
    *,
    platform: str | None = None,
    user: str = "u1",
    name: str = "soyeon",
    roles: tuple[str, ...] = (),
) -> IncomingMessage:
    return IncomingMessage(
        platform=platform or channel.split(":")[0],
        channel=channel,
        message_id=f"m{next(_counter)}",
        author=Author(user, name),
        text=text,
        roles=roles,
    )


async def tell(service: ChatService, message: IncomingMessage, target: Recorder) -> None:
    """Receive a message and wait for its answer, if it gets one."""
    received = await service.receive(message, target)
    if received.answer is not None:
        await received.answer
