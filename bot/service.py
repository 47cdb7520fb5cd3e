"""The turn: filter, de-duplicate, store, and (when addressed) answer in the channel's order.

This is the core's front door for every adapter: `receive` (a platform message), `seed` (what a
platform already holds of a conversation new to memory), `history` (a room's stored messages
for a client that shows them). Adapters never reach memory or the settings any other way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.addressing import Addressed, TagParser
from bot.attachments import prepare_upload, read_attachments
from bot.chain import chain_eligible, load_chain
from bot.channel_rules import ChatRules
from bot.commands import command_of, help_text
from bot.commands import reset as reset_channel
from bot.commands import usage as usage_lines
from bot.context import ChatTurn, ModelRequest, select_history
from bot.delivery import Delivery, ReplyTarget, typing_of
from bot.errors import USER_LINES, ErrorKind, ProviderError
from bot.limits import TurnLimiter
from bot.memory import Memory, MemoryUnavailable
from bot.metrics import NO_METRICS, Metrics, TimedProvider
from bot.moderation import REFUSAL, Moderator
from bot.personas import Persona
from bot.pictures import NO_VISION_LINE, Pictures
from bot.providers.base import ModelReply, Provider
from bot.retry import Sleep, call_with_retries
from bot.routing import route
from bot.settings import BotSettings
from bot.tag_behaviour import Prepared, needs_usage_hint, prepare
from bot.text import repair
from bot.tokens import context_window, counter_for
from bot.types import IncomingMessage, NewMessage, StoredAttachment, StoredMessage, utcnow
from bot.vision import can_see

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """What happened to an incoming message. `stored` is None for ignored or duplicate ones,
    and for one that could not be stored (`refused`: the sender was told)."""

    stored: StoredMessage | None
    addressed: Addressed | None = None
    duplicate: bool = False
    answer: asyncio.Task[None] | None = None
    refused: ErrorKind | None = None


SEED_LIMIT = 50  # earlier messages `seed` copies into a conversation new to memory


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
        rules: ChatRules | None = None,
        moderator: Moderator | None = None,
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
        # Answers being written, by the (platform, message id) they answer: a deletion stops one.
        self._answering: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._auth_logged = False
        self.rules = rules or ChatRules()  # per-channel personas, command permissions
        self.moderator = moderator  # None: moderation off
        self.metrics = metrics
        # When a person last spoke in a post with no readable text, by channel (bot-loop guard).
        self._people_spoke: dict[str, datetime] = {}
        self.source_limits = TurnLimiter(
            settings.source_turns_per_minute, settings.source_turn_burst
        )
        self._seed_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # -- what adapters may ask -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The bot's own tag (`chatbot`): what a platform mention of the bot reads as."""
        return self.settings.name

    def reserved_names(self) -> frozenset[str]:
        """Names people may not take: the bot's, the system's, every tag's."""
        return frozenset({self.settings.name, "system", *self.personas})

    async def history(self, channel: str, limit: int, *, after_id: int = 0) -> list[StoredMessage]:
        """The channel's newest `limit` stored messages after `after_id`, oldest first.

        Raises MemoryUnavailable.
        """
        return await self._with_files(await self.memory.recent(channel, limit, after_id=after_id))

    # -- files (bot/attachments.py checks them; memory keeps them) --------------------------

    async def _with_files(self, messages: list[StoredMessage]) -> list[StoredMessage]:
        found = await self.memory.files_of([m.id for m in messages])
        if not found:
            return messages
        return [
            replace(m, attachments=tuple(found[m.id])) if m.id in found else m for m in messages
        ]

    async def upload(
        self, channel: str, author_name: str, name: str, data: bytes
    ) -> StoredAttachment:
        """A file sent ahead of the message that carries it (the web chat's `POST /upload`):
        checked, downscaled and kept until a message from `author_name` links it.

        Raises FileRefused (with the line to show) or MemoryUnavailable.
        """
        ready = await prepare_upload(channel, author_name, name, data, self.settings.files)
        (stored,) = await self.memory.add_files(None, [ready])
        return stored

    async def file(self, attachment_id: str) -> tuple[StoredAttachment, bytes] | None:
        """A kept file and its bytes, or None. Raises MemoryUnavailable."""
        meta = await self.memory.file(attachment_id)
        if meta is None:
            return None
        data = await self.memory.file_data(attachment_id)
        return (meta, data) if data is not None else None

    async def _keep_files(
        self,
        stored: StoredMessage,
        message: IncomingMessage,
        target: ReplyTarget,
        *,
        read: bool,
    ) -> StoredMessage:
        """The message's files: read (fetched, checked) when the core answers it, else only
        named. Each refused file is one line to the sender; the message stays stored."""
        files: list[StoredAttachment] = []
        try:
            kept = await read_attachments(
                stored, message.attachments, self.settings.files, fetch=read
            )
            refused = list(kept.refused)
            files += await self.memory.link_uploads(
                stored.channel, kept.upload_ids, stored.author_name, stored.id
            )
            files += await self.memory.add_files(stored.id, kept.files)
        except MemoryUnavailable:
            log.warning("could not keep the files of a message in %s", stored.channel)
            refused = ["The files could not be stored (the database is unavailable)."]
        except Exception:
            # The message is stored and will be answered; only its files are missing.
            log.exception("could not keep the files of a message in %s", stored.channel)
            refused = ["The files could not be read (an error on my side)."]
        else:
            if len(files) < len(kept.upload_ids) + len(kept.files) and not refused:
                refused.append("An uploaded file was not found; upload it again.")
        if refused:
            delivery = Delivery(target, self.settings.name)
            await delivery.notice("\n".join(refused), ErrorKind.FILE_REFUSED)
        return replace(stored, attachments=tuple(files)) if files else stored

    # -- inbound ---------------------------------------------------------------------------

    def addressed(self, message: IncomingMessage) -> Addressed | None:
        # Another bot only when it addresses us by tag: no bot loops (bot/routing.py).
        return route(
            self.tags.parse(message.text),
            message,
            name=self.settings.name,
            personas=self.personas,
            rules=self.rules,
        )

    async def _flagged(self, message: IncomingMessage) -> bool:
        if self.moderator is None or message.author.is_bot:
            return False
        try:
            return await self.moderator.flagged(message.text)
        except Exception as exc:
            # Fail open: a moderation outage must not silence the chat; it is logged.
            log.warning("moderation failed, message not checked: %s", exc.__class__.__name__)
            return False

    async def receive(self, message: IncomingMessage, target: ReplyTarget) -> Received:
        """Store the message; if it is addressed, start answering it and return at once.

        A message that cannot be stored is refused: its sender is told (privately where the
        target can, else where they asked, when they asked the bot) and still has the text.
        """
        if message.author.is_self:
            return Received(stored=None)
        if not message.text.strip() and not message.attachments:
            # Nothing anyone can read (Discord blanks posts that do not concern us without its
            # Message Content intent): nothing to store, but a person did speak.
            if not message.author.is_bot:
                self._person_spoke(message.channel, message.time)
            return Received(stored=None)
        message = _repaired(message)
        try:
            addressed = await self._addressed(message)
            command = None
            if addressed is not None and addressed.tag == self.settings.name:
                command = command_of(addressed.text)
            flagged = await self._flagged(message)
            stored = await self.memory.add(_as_new(message, flagged, addressed, command))
        except MemoryUnavailable:
            log.warning(
                "could not store a message in %s: the database is unavailable", message.channel
            )
            return await self._refuse(message, target, ErrorKind.STORAGE)
        except Exception:
            log.exception("could not store a message in %s", message.channel)
            return await self._refuse(message, target, ErrorKind.NOT_STORED)
        if stored is None:
            return Received(stored=None, addressed=addressed, duplicate=True)
        self.metrics.message_received(message.platform)
        if message.attachments:
            stored = await self._keep_files(stored, message, target, read=addressed is not None)
        if addressed is None:
            return Received(stored=stored)
        if message.author.is_bot and not await self._bot_run_allows(stored):
            log.info(
                "not answering bot %s in %s (bot-loop guard)", message.author.id, stored.channel
            )
            return Received(stored=stored)
        self.metrics.turn_started(message.platform)
        task = asyncio.create_task(self._answer(stored, addressed, target, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if message.message_id is not None:
            key = (message.platform, message.message_id)
            self._answering[key] = task
            task.add_done_callback(functools.partial(self._answered, key))
        return Received(stored=stored, addressed=addressed, answer=task)

    def _answered(self, key: tuple[str, str], _: asyncio.Task[None]) -> None:
        self._answering.pop(key, None)

    async def _addressed(self, message: IncomingMessage) -> Addressed | None:
        found = self.addressed(message)
        if found is not None or not message.in_thread or message.author.is_bot:
            return found
        # A reply in a thread the bot takes part in addresses it, with no new mention.
        if await self._took_part(message.channel):
            return self.addressed(replace(message, reply_to_bot=True))
        return None

    async def _took_part(self, channel: str) -> bool:
        earlier = await self.memory.recent(channel, SEED_LIMIT)
        return any(m.role == "assistant" for m in earlier)

    async def _refuse(
        self, message: IncomingMessage, target: ReplyTarget, kind: ErrorKind
    ) -> Received:
        self.metrics.turn_failed(message.platform, kind.value)
        delivery = Delivery(target, self.settings.name)
        concerns_bot = message.mentions_bot or message.is_direct or message.reply_to_bot
        if delivery.can.notice or concerns_bot or self.tags.parse(message.text) is not None:
            await delivery.notice(USER_LINES[kind], kind)
        return Received(stored=None, refused=kind)

    async def seed(
        self,
        channel: str,
        earlier: Callable[[], Awaitable[Sequence[IncomingMessage]]],
    ) -> None:
        """Copy what a platform holds of a conversation into memory, once, if memory has none
        of it (a Slack thread: its parent and earlier replies). `earlier` is only called then.
        The bot's own messages (`author.is_self`) become its answers."""
        lock = self._seed_locks.get(channel)
        if lock is None:
            lock = self._seed_locks[channel] = asyncio.Lock()
        async with lock:
            try:
                if await self.memory.recent(channel, 1):
                    return
                for message in await earlier():
                    await self.memory.add(self._seed_row(_repaired(message)))
            except MemoryUnavailable:
                # Only context is missing; the message itself is refused and its sender told.
                log.warning("could not seed %s: the database is unavailable", channel)

    def _seed_row(self, message: IncomingMessage) -> NewMessage:
        if message.author.is_self:
            return NewMessage(
                channel=message.channel,
                platform=message.platform,
                role="assistant",
                author_id=f"bot:{self.settings.name}",
                author_name=self.settings.name,
                text=message.text,
                created_at=message.time,
                platform_message_id=message.message_id,
                tag=self.settings.name,
            )
        addressed = self.addressed(message)
        command = None
        if addressed is not None and addressed.tag == self.settings.name:
            command = command_of(addressed.text)
        return _as_new(message, False, addressed, command)

    async def edited(self, platform: str, message_id: str, text: str) -> bool:
        """A person edited a message the platform delivered before: memory follows. An edit is
        never answered (it would answer the same question twice)."""
        try:
            return await self.memory.edit(platform, message_id, repair(text))
        except MemoryUnavailable:
            log.warning("could not store an edit on %s: the database is unavailable", platform)
            return False

    async def deleted(self, platform: str, message_ids: Sequence[str]) -> int:
        """The platform deleted messages: they leave memory, and an answer still being written
        to one of them stops."""
        for message_id in message_ids:
            task = self._answering.get((platform, message_id))
            if task is not None and not task.done():
                task.cancel()
        try:
            return await self.memory.delete(platform, list(message_ids))
        except MemoryUnavailable:
            log.warning("could not remove deleted messages on %s", platform)
            return 0

    async def idle(self) -> None:
        """Until every answer in flight has ended (tests; the graceful stop uses `drain`)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _bot_run_allows(self, asked: StoredMessage) -> bool:
        """Another bot addressed us: answer unless we already answered bots `max_bot_turns`
        times in a row here since a person last spoke. Counted from the stored messages, so
        it holds across restarts and processes."""
        limit = self.settings.max_bot_turns
        window = await self.memory.recent(asked.channel, 4 * limit + 4, up_to_id=asked.id - 1)
        spoke = self._people_spoke.get(asked.channel)
        run = 0
        for earlier in reversed(window):
            if spoke is not None and earlier.created_at <= spoke:
                break  # a person spoke after it, in a post we could not read
            if earlier.role != "user":
                continue
            if not earlier.author_is_bot:
                break
            if earlier.tag is not None:
                run += 1
        return run < limit

    def _person_spoke(self, channel: str, at: datetime) -> None:
        self._people_spoke.pop(channel, None)
        self._people_spoke[channel] = at
        if len(self._people_spoke) > 10_000:
            self._people_spoke.pop(next(iter(self._people_spoke)))

    # -- the answer ------------------------------------------------------------------------

    def _lock(self, channel: str) -> asyncio.Lock:
        lock = self._locks.get(channel)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[channel] = lock
        return lock

    async def _answer(
        self,
        asked: StoredMessage,
        addressed: Addressed,
        target: ReplyTarget,
        message: IncomingMessage,
    ) -> None:
        persona = self.personas[addressed.tag]
        delivery = Delivery(target, persona.name, edit_interval=self.edit_interval)
        try:
            await self._turn(asked, addressed, persona, delivery, message)
        except asyncio.CancelledError:
            raise
        except MemoryUnavailable:
            log.warning("memory unavailable while answering in %s", asked.channel)
            self.metrics.turn_failed(asked.platform, ErrorKind.STORAGE.value)
            await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
        except Exception:
            # Whatever went wrong, the room hears that it did: never silence.
            log.exception("unexpected failure answering in %s", asked.channel)
            self.metrics.turn_failed(asked.platform, ErrorKind.SERVER_FAILURE.value)
            if not delivery.finished:
                await delivery.fail(USER_LINES[ErrorKind.SERVER_FAILURE], ErrorKind.SERVER_FAILURE)

    async def _turn(
        self,
        asked: StoredMessage,
        addressed: Addressed,
        persona: Persona,
        delivery: Delivery,
        message: IncomingMessage,
    ) -> None:
        if asked.flagged:
            await delivery.fail(REFUSAL, ErrorKind.BLOCKED)
            return
        if asked.command is not None:
            await self._command(asked.command, asked, message, delivery)
            return
        pictured = bool(message.attachments) and persona.behaviour == "chat"
        if needs_usage_hint(persona, addressed.text) and not pictured:
            await delivery.fail(persona.usage_hint or USER_LINES[ErrorKind.USAGE], ErrorKind.USAGE)
            return
        if message.source is not None and not self.source_limits.allow(message.source):
            log.info("turn limit reached for a source in %s", asked.channel)
            self.metrics.turn_failed(asked.platform, ErrorKind.THROTTLED.value)
            await delivery.fail(USER_LINES[ErrorKind.THROTTLED], ErrorKind.THROTTLED)
            return
        prepared = self._prepare(persona, addressed, asked)
        async with self._lock(asked.channel):
            try:
                async with typing_of(delivery.target, persona.name):
                    reply = await self._call_model(asked, persona, delivery, prepared)
            except ProviderError as err:
                self._log_provider_error(err)
                self.metrics.turn_failed(asked.platform, err.kind.value)
                await delivery.fail(err.user_line, err.kind)
                return
            reply = replace(reply, text=repair(reply.text))
            stored = await self._store_reply(asked, persona, reply)
            if reply.response_id and stored is not None and persona.behaviour == "chat":
                # The chain now holds everything up to the question (see bot/chain.py).
                await self._save_chain(asked.channel, reply.response_id, asked.id)
        await delivery.finish(
            reply.text,
            stored.id if stored else None,
            stored.created_at if stored else utcnow(),
        )

    def _prepare(self, persona: Persona, addressed: Addressed, asked: StoredMessage) -> Prepared:
        override = self.rules.for_channel(asked.channel)
        if override.system_prompt and persona.name == (override.persona or self.settings.name):
            persona = replace(persona, system_prompt=override.system_prompt)
        return prepare(persona, addressed.text, asked.author_name)

    async def _command(
        self,
        command: str,
        asked: StoredMessage,
        message: IncomingMessage,
        delivery: Delivery,
    ) -> None:
        try:
            async with self._lock(asked.channel):
                if command == "help":
                    default = self.rules.for_channel(asked.channel).persona or self.settings.name
                    text = help_text(self.personas, default, self.settings.name)
                elif command == "reset":
                    text = await reset_channel(self.memory, self.rules, asked, message)
                else:
                    text = await usage_lines(self.memory, asked.channel)
        except MemoryUnavailable:
            await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
            return
        await delivery.finish(text, None, utcnow())  # not stored: commands stay out of context

    async def _call_model(
        self,
        asked: StoredMessage,
        persona: Persona,
        delivery: Delivery,
        prepared: Prepared | None = None,
    ) -> ModelReply:
        if prepared is None:
            prepared = Prepared(persona.system_prompt, persona.max_history_turns)
        state, history = await self.memory.context(
            asked.channel, prepared.history_turns, up_to_id=asked.id
        )
        history = [m for m in history if not m.flagged and m.command is None]
        raw_provider = self.provider_for(persona.model.provider)
        chain = (
            await load_chain(self.memory, state, asked, persona, self.tags)
            if chain_eligible(raw_provider, persona)
            else None
        )
        provider = TimedProvider(raw_provider, self.metrics)
        count = counter_for(persona.model.model)
        window = context_window(persona.model.model, persona.model.context_window)
        budget = min(
            persona.max_history_tokens,
            window - self.settings.reply_reserve_tokens - count(prepared.system_prompt),
        )

        full = select_history(
            history,
            persona=persona.name,
            max_turns=prepared.history_turns,
            max_tokens=budget,
            count=count,
            tags=self.tags,
        )
        # Files: images where the model sees them, text files as text (bot/pictures.py).
        pictures = Pictures(
            self.memory,
            self.settings.files,
            sees=can_see(persona.model),
            count=count,
            # Text files may use what the model's window has left after the history.
            room=window
            - self.settings.reply_reserve_tokens
            - count(prepared.system_prompt)
            - sum(count(t.content) for t in full),
        )
        full = await pictures.add(full)
        if asked.id in pictures.unseen:
            await Delivery(delivery.target, persona.name).notice(
                NO_VISION_LINE, ErrorKind.NO_VISION
            )

        async def attempt(shrink: bool) -> ModelReply:
            # Too long for the server after all: send the newer half of what we sent.
            turns = full
            if shrink:
                turns = select_history(
                    history,
                    persona=persona.name,
                    max_turns=max(1, len(full) // 2),
                    max_tokens=budget // 2,
                    count=count,
                    tags=self.tags,
                )
                turns = await pictures.add(turns)
            turns = list(turns)
            if prepared.final_turn is not None and turns:
                turns[-1] = ChatTurn("user", prepared.final_turn)
            request = ModelRequest(
                channel=asked.channel,
                system=prepared.system_prompt,
                turns=turns,
                settings=persona.model,
            )
            if chain is not None and not shrink:  # a shrunk retry starts a new, smaller chain
                request = replace(
                    request,
                    previous_response_id=chain.previous_response_id,
                    turns_since_previous=await pictures.add(chain.turns_since),
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

    async def _save_chain(self, channel: str, response_id: str, message_id: int) -> None:
        try:
            await self.memory.save_chain(channel, response_id, message_id)
        except MemoryUnavailable:
            log.error("could not save the response chain in %s", channel)

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


def _repaired(message: IncomingMessage) -> IncomingMessage:
    """Text a platform let through that cannot be stored as UTF-8 (see bot/text.py)."""
    text, name = repair(message.text), repair(message.author.name)
    if text is message.text and name is message.author.name:
        return message
    return replace(message, text=text, author=replace(message.author, name=name))


def _as_new(
    message: IncomingMessage, flagged: bool, addressed: Addressed | None, command: str | None
) -> NewMessage:
    return NewMessage(
        channel=message.channel,
        platform=message.platform,
        role="user",
        author_id=message.author.id,
        author_name=message.author.name,
        text=message.text,
        created_at=message.time,
        platform_message_id=message.message_id,
        tag=addressed.tag if addressed is not None else None,
        flagged=flagged,
        command=command,
        author_is_bot=message.author.is_bot,
    )
