"""The turn: filter, de-duplicate, store, and (when addressed) answer in the channel's order."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.addressing import Addressed, TagParser
from bot.context import ModelRequest, select_history
from bot.delivery import Delivery, ReplyTarget, typing_of
from bot.errors import USER_LINES, ErrorKind, ProviderError
from bot.memory import Memory, MemoryUnavailable
from bot.metrics import NO_METRICS, Metrics, TimedProvider
from bot.personas import Persona
from bot.providers.base import ModelReply, Provider
from bot.retry import Sleep, call_with_retries
from bot.settings import BotSettings
from bot.tokens import context_window, counter_for
from bot.types import IncomingMessage, NewMessage, StoredMessage, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """What happened to an incoming message. `stored` is None for ignored or duplicate ones."""

    stored: StoredMessage | None
    addressed: Addressed | None = None
    duplicate: bool = False
    answer: asyncio.Task[None] | None = None


class ChatService:
    def __init__(
        self,
        memory: Memory,
        provider_for: Callable[[str], Provider],
        settings: BotSettings,
        personas: Mapping[str, Persona],
        *,
        sleep: Sleep = asyncio.sleep,
        edit_interval: float = 1.0,
        metrics: Metrics = NO_METRICS,
    ):
        self.memory = memory
        # Providers by name ("openai", "openai-responses", "gemini"): a persona picks one.
        self.provider_for = provider_for
        self.settings = settings
        self.personas = dict(personas)
        self.tags = TagParser(self.personas)
        self.sleep = sleep
        self.edit_interval = edit_interval
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        self._auth_logged = False
        self.metrics = metrics

    # -- inbound ---------------------------------------------------------------------------

    def addressed(self, message: IncomingMessage) -> Addressed | None:
        found = self.tags.parse(message.text)
        if message.author.is_bot:
            return found  # another bot only when it addresses us by tag: no bot loops
        if found is None and (message.is_direct or message.is_reply_to_bot):
            return Addressed(tag=self.settings.name, text=message.text.strip())
        return found

    async def receive(self, message: IncomingMessage, target: ReplyTarget) -> Received:
        """Store the message; if it is addressed, start answering it and return at once.

        Raises MemoryUnavailable when the message could not be stored: the adapter tells the
        sender, who still has the text.
        """
        if message.author.is_self:
            return Received(stored=None)
        addressed = self.addressed(message)
        stored = await self.memory.add(
            NewMessage(
                channel=message.channel,
                platform=message.platform,
                role="user",
                author_id=message.author.id,
                author_name=message.author.name,
                text=message.text,
                created_at=message.time,
                platform_message_id=message.message_id,
            )
        )
        if stored is None:
            return Received(stored=None, addressed=addressed, duplicate=True)
        self.metrics.message_received(message.platform)
        if addressed is None:
            return Received(stored=stored)
        self.metrics.turn_started(message.platform)
        task = asyncio.create_task(self._answer(stored, addressed, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Received(stored=stored, addressed=addressed, answer=task)

    # -- the answer ------------------------------------------------------------------------

    def _lock(self, channel: str) -> asyncio.Lock:
        lock = self._locks.get(channel)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[channel] = lock
        return lock

    async def _answer(
        self, asked: StoredMessage, addressed: Addressed, target: ReplyTarget
    ) -> None:
        persona = self.personas[addressed.tag]
        delivery = Delivery(target, persona.name, edit_interval=self.edit_interval)
        if persona.needs_text and not addressed.text:
            await delivery.fail(persona.usage_hint or USER_LINES[ErrorKind.USAGE], ErrorKind.USAGE)
            return
        async with self._lock(asked.channel):
            try:
                async with typing_of(target, persona.name):
                    reply = await self._call_model(asked, persona, delivery)
            except ProviderError as err:
                self._log_provider_error(err)
                self.metrics.turn_failed(asked.platform, err.kind.value)
                await delivery.fail(err.user_line, err.kind)
                return
            except MemoryUnavailable:
                log.warning("memory unavailable while answering in %s", asked.channel)
                self.metrics.turn_failed(asked.platform, ErrorKind.STORAGE.value)
                await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
                return
            except Exception:
                log.exception("unexpected failure answering in %s", asked.channel)
                self.metrics.turn_failed(asked.platform, ErrorKind.SERVER.value)
                await delivery.fail(USER_LINES[ErrorKind.SERVER], ErrorKind.SERVER)
                return
            stored = await self._store_reply(asked, persona, reply)
        await delivery.finish(
            reply.text,
            stored.id if stored else None,
            stored.created_at if stored else utcnow(),
        )

    async def _call_model(
        self, asked: StoredMessage, persona: Persona, delivery: Delivery
    ) -> ModelReply:
        state = await self.memory.state(asked.channel)
        history = await self.memory.recent(
            asked.channel,
            persona.max_history_turns,
            after_id=state.reset_after_id,
            up_to_id=asked.id,
        )
        history = [m for m in history if not m.flagged]
        provider = TimedProvider(self.provider_for(persona.model.provider), self.metrics)
        count = counter_for(persona.model.model)
        window = context_window(persona.model.model, persona.model.context_window)
        budget = min(
            persona.max_history_tokens,
            window - self.settings.reply_reserve_tokens - count(persona.system_prompt),
        )

        async def attempt(shrink: bool) -> ModelReply:
            turns = select_history(
                history,
                persona=persona.name,
                max_turns=persona.max_history_turns,
                max_tokens=budget // 2 if shrink else budget,
                count=count,
            )
            request = ModelRequest(
                channel=asked.channel,
                system=persona.system_prompt,
                turns=turns,
                settings=persona.model,
            )
            # An overall bound, on top of the SDK's own per-read timeout: a server that
            # trickles bytes forever still ends.
            async with asyncio.timeout(persona.model.timeout * 3):
                try:
                    return await provider.complete(request, delivery.on_delta)
                except TimeoutError as exc:
                    raise ProviderError(ErrorKind.TIMEOUT, "overall bound") from exc

        try:
            return await call_with_retries(
                attempt, self.settings.retry, streamed=lambda: delivery.streamed, sleep=self.sleep
            )
        except TimeoutError as exc:
            raise ProviderError(ErrorKind.TIMEOUT, "overall bound") from exc

    async def _store_reply(
        self, asked: StoredMessage, persona: Persona, reply: ModelReply
    ) -> StoredMessage | None:
        try:
            return await self.memory.add(
                NewMessage(
                    channel=asked.channel,
                    platform=asked.platform,
                    role="assistant",
                    author_id=f"bot:{persona.name}",
                    author_name=persona.name,
                    text=reply.text,
                    created_at=utcnow(),
                    tag=persona.name,
                    usage=reply.usage,
                )
            )
        except MemoryUnavailable:
            # The answer still reaches the chat; only its copy in memory is missing.
            log.error("could not store the answer in %s", asked.channel)
            return None

    def _log_provider_error(self, err: ProviderError) -> None:
        if err.kind is ErrorKind.AUTH:
            if not self._auth_logged:
                log.error("PROVIDER REJECTED OUR CREDENTIALS (%s): check the API key", err.detail)
                self._auth_logged = True
        elif err.kind is ErrorKind.NOT_CONFIGURED:
            log.info("no provider configured: %s", err.detail)
        else:
            log.warning("provider error: %s", err)

    # -- lifecycle -------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Let answers in flight finish, up to `timeout` seconds; cancel the rest."""
        pending = set(self._tasks)
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            await asyncio.gather(*still, return_exceptions=True)
