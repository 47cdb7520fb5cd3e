"""The turn: filter, de-duplicate, store, and (when addressed) answer in the channel's order.

This is the core's front door for every adapter: `receive` (a platform message), `command` (a
command a platform asks for by name: a slash command), `seed` (what a platform already holds of
a conversation new to memory), `history` (a room's stored messages for a client that shows
them), `edited` and `deleted`, `tags_for` (the tags a channel offers). Adapters never reach
memory or the settings any other way.
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
from bot.channel_overrides import ChannelOverrides
from bot.channel_rules import ChatRules
from bot.commands import command_of, forget_me, help_text, memory_report, unknown
from bot.commands import reset as reset_channel
from bot.commands import usage as usage_lines
from bot.context import ChatTurn, ModelRequest, Window, recent_window, select_history
from bot.delivery import Delivery, ReplyTarget, typing_of
from bot.errors import USER_LINES, ErrorKind, ProviderError
from bot.limits import TurnLimiter
from bot.long_memory import (
    EmbeddingWorker,
    MemoryParts,
    Summarizer,
    context_record,
    recall_part,
    scope_key,
    summary_part,
)
from bot.memory import Memory, MemoryUnavailable
from bot.metrics import NO_METRICS, Metrics, TimedProvider
from bot.moderation import REFUSAL, Moderator
from bot.personas import Persona
from bot.pictures import NO_VISION_LINE, Pictures
from bot.providers.base import DeltaSink, Embedder, ModelReply, Provider
from bot.retry import Sleep, call_with_retries
from bot.routing import route
from bot.settings import BotSettings
from bot.spending import Spending, Subjects, subjects_for, subjects_of
from bot.tag_behaviour import Prepared, needs_usage_hint, prepare
from bot.text import repair
from bot.tokens import context_window, counter_for
from bot.tools.base import Source, Tool, ToolContext, ToolRound
from bot.tools.loop import ToolLog, tool_loop
from bot.tools.toolbox import ToolBox, label_of
from bot.types import (
    ChannelKey,
    ChannelState,
    FailedTurn,
    IncomingMessage,
    NewMessage,
    StoredAttachment,
    StoredMessage,
    Summary,
    Viewed,
    utcnow,
)
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
        embedder: Embedder | None = None,
        tools: ToolBox | None = None,
        clock: Callable[[], datetime] = utcnow,
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
        # Per-channel personas, command permissions: the file's, with the console's over them
        # (read through a short-lived cache: bot/channel_overrides.py).
        self.channel_settings = ChannelOverrides(memory, rules or ChatRules())
        # Spending limits and each answer's cost (bot/spending.py).
        self.spending = Spending(
            memory, settings.spending, limits_for=self.channel_settings.limits_for, clock=clock
        )
        self._background: set[asyncio.Task[None]] = set()  # failed turns being recorded
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
        # Long memory's background work (bot/long_memory.py): never on a turn's path.
        self.summarizer = Summarizer(memory, provider_for, settings.memory)
        self.embedder = embedder
        self.embeddings = EmbeddingWorker(memory, embedder) if embedder is not None else None
        self.tools = tools  # None: no tools at all (bot/tools/toolbox.py picks a turn's)

    @property
    def rules(self) -> ChatRules:
        return self.channel_settings.rules

    # -- what adapters may ask -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The bot's own tag (`chatbot`): what a platform mention of the bot reads as."""
        return self.settings.name

    def reserved_names(self) -> frozenset[str]:
        """Names people may not take: the bot's, the system's, every tag's."""
        return frozenset({self.settings.name, "system", *self.personas})

    def tags_for(self, channel: str) -> list[Persona]:
        """The tags a question in `channel` may name, its default persona first (for a
        platform's picker: Discord's `/ask persona`)."""
        default = self.rules.for_channel(channel).persona or self.settings.name
        return sorted(self.personas.values(), key=lambda p: (p.name != default, p.name))

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
        await self.channel_settings.refresh()  # at most one small read every few seconds
        try:
            addressed = await self._addressed(message)
            command = None
            # An explicit question (`asks`) is never a command: those come through `command`.
            if addressed is not None and addressed.tag == self.settings.name and not message.asks:
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
        if self.embeddings is not None:
            self.embeddings.poke()
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
        self._failed(message.platform, message.channel, kind)
        delivery = Delivery(target, self.settings.name)
        concerns_bot = (
            message.mentions_bot
            or message.is_direct
            or message.reply_to_bot
            or message.asks is not None
        )
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
        """Until every answer in flight, and the background memory work they started, has
        ended (tests; the graceful stop uses `drain`)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.summarizer.idle()
        if self.embeddings is not None:
            await self.embeddings.idle()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

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
            self._failed(asked.platform, asked.channel, ErrorKind.STORAGE, persona.name)
            await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
        except Exception:
            # Whatever went wrong, the room hears that it did: never silence.
            log.exception("unexpected failure answering in %s", asked.channel)
            self._failed(asked.platform, asked.channel, ErrorKind.SERVER_FAILURE, persona.name)
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
            await self._command(asked.command, asked.channel, asked.id, message, delivery)
            return
        viewed = message.viewing
        if viewed is not None and viewed.refused is not None:
            await delivery.finish(viewed.refused, None, utcnow())  # not stored, like commands
            return
        pictured = bool(message.attachments) and persona.behaviour == "chat"
        if needs_usage_hint(persona, addressed.text) and not pictured:
            await delivery.fail(persona.usage_hint or USER_LINES[ErrorKind.USAGE], ErrorKind.USAGE)
            return
        if message.source is not None and not self.source_limits.allow(message.source):
            log.info("turn limit reached for a source in %s", asked.channel)
            self._failed(asked.platform, asked.channel, ErrorKind.THROTTLED, persona.name)
            await delivery.fail(USER_LINES[ErrorKind.THROTTLED], ErrorKind.THROTTLED)
            return
        # Spending limits: one read of the counters; over one, a line and no model call.
        subjects = subjects_of(asked, message)
        over = await self.spending.refusal(subjects, asked.channel, persona.name)
        if over is not None:
            log.info("spending limit reached in %s: %s", asked.channel, over[0])
            self._failed(asked.platform, asked.channel, ErrorKind.OVER_LIMIT, persona.name)
            await delivery.fail(over[1], ErrorKind.OVER_LIMIT)
            return
        prepared = self._prepare(persona, addressed, asked)
        tools = self.tools.for_turn(persona, message) if self.tools is not None else {}
        used = ToolLog()
        async with self._lock(asked.channel):
            try:
                async with typing_of(delivery.target, persona.name):
                    reply, context = await self._call_model(
                        asked, persona, delivery, prepared, addressed.text, viewed, tools, used
                    )
            except ProviderError as err:
                self._log_provider_error(err)
                self._failed(asked.platform, asked.channel, err.kind, persona.name)
                await self._save_tool_calls(asked, None, used)
                await delivery.fail(err.user_line, err.kind)
                return
            reply = replace(reply, text=repair(with_sources(reply.text, reply.sources)))
            stored = await self._store_reply(asked, persona, reply, context, subjects)
            await self._save_tool_calls(asked, stored.id if stored else None, used)
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

    async def command(self, name: str, message: IncomingMessage, target: ReplyTarget) -> None:
        """A command a platform asks for by name (Discord's `/reset`), answered in
        `message.channel` exactly as `@chatbot <name>` would be, with the same permissions
        (`message` carries the sender and their roles). Neither the request nor the reply is
        stored. Returns once the reply was delivered; a name the core does not know gets a line
        that lists the commands."""
        delivery = Delivery(target, self.settings.name, edit_interval=self.edit_interval)
        try:
            newest = await self.memory.recent(message.channel, 1)
            # A reset forgets what the channel held when it was asked for.
            up_to_id = newest[-1].id if newest else 0
            await self._command(name.strip().lower(), message.channel, up_to_id, message, delivery)
        except MemoryUnavailable:
            await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
        except Exception:
            log.exception("unexpected failure running the %s command", name)
            await delivery.fail(USER_LINES[ErrorKind.SERVER_FAILURE], ErrorKind.SERVER_FAILURE)

    async def _command(
        self,
        command: str,
        channel: str,
        up_to_id: int,
        message: IncomingMessage,
        delivery: Delivery,
    ) -> None:
        try:
            async with self._lock(channel):
                if command == "help":
                    default = self.rules.for_channel(channel).persona or self.settings.name
                    text = help_text(self.personas, default, self.settings.name)
                elif command == "reset":
                    text = await reset_channel(self.memory, self.rules, channel, up_to_id, message)
                elif command == "usage":
                    text = await usage_lines(self.memory, channel)
                    own = await self.spending.report(subjects_for(message, channel), channel)
                    text = f"{text}\n{own}"
                elif command == "forget me":
                    text = await forget_me(self.memory, self.rules, channel, message)
                elif command == "memory":
                    default = self.rules.for_channel(channel).persona or self.settings.name
                    scope = self._scope(self.personas[default], channel)
                    text = await memory_report(
                        self.memory, channel, scope_key(scope, message.author.id)
                    )
                else:
                    text = unknown(command, self.settings.name)
        except MemoryUnavailable:
            await delivery.fail(USER_LINES[ErrorKind.STORAGE], ErrorKind.STORAGE)
            return
        await delivery.finish(text, None, utcnow())  # not stored: commands stay out of context

    def _scope(self, persona: Persona, channel: str) -> str:
        """Long memory's scope: the tag's, else the channel's, else the room's ("shared")."""
        return persona.scope or self.rules.for_channel(channel).scope or "shared"

    async def _long_memory(
        self,
        asked: StoredMessage,
        question: str,
        state: ChannelState,
        summary: Summary | None,
        window: Window,
        scope: str,
        room: int,
        count: Callable[[str], int],
    ) -> MemoryParts:
        """The summary (read with the window) and the messages recalled from before
        `window`, within `room` tokens and each part's cap."""
        s = self.settings.memory
        author = asked.author_id if scope == "member" else None
        summary_text, summary_tokens = summary_part(
            summary, state.reset_after_id, min(s.summary_tokens, room), count
        )
        recalled: tuple[StoredMessage, ...] = ()
        recalled_text, recall_tokens = "", 0
        cap = min(s.recall_tokens, room - summary_tokens)
        if s.recall and window.messages and cap > 0:
            found = await self._recall(asked, question, state, window.messages[0].id, author)
            recalled, recalled_text, recall_tokens = recall_part(found, cap, count)
        return MemoryParts(
            summary, summary_text, recalled, recalled_text, summary_tokens, recall_tokens
        )

    async def _recall(
        self,
        asked: StoredMessage,
        question: str,
        state: ChannelState,
        before_id: int,
        author: str | None,
    ) -> list[StoredMessage]:
        """Full-text recall, with semantic recall beside it when an embedder is configured
        (both lists merged by reciprocal rank)."""
        limit = self.settings.memory.recall_messages
        window = {"after_id": state.reset_after_id, "before_id": before_id, "limit": limit}
        found = await self.memory.recall(asked.channel, question, **window, author_id=author)
        if self.embedder is None:
            return found
        try:
            async with asyncio.timeout(5):
                [vector] = await self.embedder.embed([question])
            near = await self.memory.nearest(
                asked.channel, self.embedder.model, vector, **window, author_id=author
            )
        except (ProviderError, TimeoutError, ValueError) as exc:
            log.warning("semantic recall skipped in %s: %s", asked.channel, exc)
            return found
        rank: dict[int, float] = {}
        by_id = {m.id: m for m in [*found, *near]}
        for ranked in (found, near):
            for place, m in enumerate(ranked):
                rank[m.id] = rank.get(m.id, 0.0) + 1.0 / (60 + place)
        best = sorted(rank, key=lambda i: -rank[i])[:limit]
        return [by_id[i] for i in best]

    async def _call_model(
        self,
        asked: StoredMessage,
        persona: Persona,
        delivery: Delivery,
        prepared: Prepared | None = None,
        question: str = "",
        viewed: Viewed | None = None,
        tools: Mapping[str, Tool] | None = None,
        tool_log: ToolLog | None = None,
    ) -> tuple[ModelReply, str | None]:
        """The model's reply, and what it was given (tokens per part, as JSON).

        `viewed`: another conversation the person asks about (Slack's agent view), read
        instead of this one's history: no chain, no long memory of this conversation.
        `tools`: what the model may call this turn; the rounds run in bot/tools/loop.py and
        every call lands in `tool_log`."""
        tools = tools or {}
        tool_log = tool_log if tool_log is not None else ToolLog()
        if prepared is None:
            prepared = Prepared(persona.system_prompt, persona.max_history_turns)
        # Long memory is for conversation: @summary and @translate build their own context.
        remembers = persona.behaviour == "chat" and viewed is None
        scope = self._scope(persona, asked.channel) if remembers else "shared"
        author = asked.author_id if scope == "member" else None
        read = await self.memory.context(
            asked.channel,
            prepared.history_turns,
            up_to_id=asked.id,
            author_id=author,
            summary_scope=scope_key(scope, asked.author_id) if remembers else None,
        )
        state, history = read.state, read.history
        if viewed is not None:
            # The conversation the person looks at, then their question.
            keep = prepared.history_turns - 1
            history = [*(viewed.messages[-keep:] if keep > 0 else ()), asked]
            if prepared.final_turn is not None:
                prepared = replace(
                    prepared, final_turn=f"{prepared.final_turn} (They were said in {viewed.name}.)"
                )
        history = [m for m in history if not m.flagged and m.command is None]
        raw_provider = self.provider_for(persona.model.provider)
        chain = None
        # A viewed conversation is never a chain: the chain holds this one, not that one.
        if viewed is None and chain_eligible(raw_provider, persona):
            chain = await load_chain(self.memory, state, asked, persona, self.tags)
        provider = TimedProvider(raw_provider, self.metrics)
        count = counter_for(persona.model.model)
        window = context_window(persona.model.model, persona.model.context_window)
        system_tokens = count(prepared.system_prompt)
        budget = min(
            persona.max_history_tokens, window - self.settings.reply_reserve_tokens - system_tokens
        )
        window_of = functools.partial(
            recent_window,
            history,
            persona=persona.name,
            max_turns=prepared.history_turns,
            count=count,
            tags=self.tags,
        )
        recent = window_of(max_tokens=budget)
        # Older messages exist beyond the window: the read was full, or the window left some.
        older = len(read.history) >= prepared.history_turns or len(recent.messages) < len(history)
        parts = MemoryParts()
        if remembers and older:
            # Summary and recall may take what they use, up to their caps, but the recent
            # window always keeps `recent_share` of the budget for the newest turns.
            room = int(budget * (1 - self.settings.memory.recent_share))
            parts = await self._long_memory(
                asked, question, state, read.summary, recent, scope, room, count
            )
            used = parts.summary_tokens + parts.recall_tokens
            if used:
                recent = window_of(max_tokens=budget - used)
        if remembers and older and recent.messages:
            # Only when something has left the window: a young channel's turns never start a
            # summariser that would read the channel only to find too little to fold.
            self.summarizer.poke(
                asked.channel,
                scope_key(scope, asked.author_id),
                before_id=recent.messages[0].id,
                reset_after_id=state.reset_after_id,
                model=persona.model,
                covered=parts.summary.covers_up_to_id if parts.summary else 0,
            )
        system = prepared.system_prompt
        if parts.block():
            system = f"{system}\n\n{parts.block()}"
        record = context_record(budget, system_tokens, parts, recent.tokens, len(recent.turns))
        # Files: images where the model sees them, text files as text (bot/pictures.py).
        pictures = Pictures(
            self.memory,
            self.settings.files,
            sees=can_see(persona.model),
            files={m.id: read.files.get(m.id, []) for m in read.history},
            count=count,
            # Text files may use what the model's window has left after the rest of the context.
            room=window
            - self.settings.reply_reserve_tokens
            - system_tokens
            - recent.tokens
            - parts.summary_tokens
            - parts.recall_tokens,
        )
        recent_turns = await pictures.add(recent.turns)
        if asked.id in pictures.unseen:
            await Delivery(delivery.target, persona.name).notice(
                NO_VISION_LINE, ErrorKind.NO_VISION
            )

        specs = [tool.spec for tool in tools.values()]

        async def attempt(
            shrink: bool, rounds: list[ToolRound], final: bool, sink: DeltaSink
        ) -> ModelReply:
            # Too long for the server after all: send the newer half of what we sent, and
            # no summary or recalled messages.
            turns = recent_turns
            if shrink:
                turns = select_history(
                    history,
                    persona=persona.name,
                    max_turns=max(1, len(recent.turns) // 2),
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
                system=prepared.system_prompt if shrink else system,
                turns=turns,
                settings=persona.model,
                tools=specs,
                rounds=rounds,
                web_search=persona.web_search,
                tool_choice="none" if final and specs else "auto",
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
                    return await provider.complete(request, sink)
                except TimeoutError as exc:
                    raise ProviderError(ErrorKind.TIMEOUT, "overall bound") from exc

        async def ask(rounds: list[ToolRound], final: bool, sink: DeltaSink) -> ModelReply:
            # One round, with the retry policy of its own: a round is retried unless its own
            # text already reached the chat (an earlier round's text is not sent again).
            spoke = False

            async def round_sink(delta: str) -> None:
                nonlocal spoke
                spoke = True
                await sink(delta)

            return await call_with_retries(
                functools.partial(attempt, rounds=rounds, final=final, sink=round_sink),
                self.settings.retry,
                streamed=lambda: spoke,
                sleep=self.sleep,
            )

        context = ToolContext(asked.channel, asked.author_id, scope)
        try:
            reply = await tool_loop(
                ask,
                tools,
                context,
                max_rounds=self.settings.max_tool_rounds,
                timeout=self.settings.tool_timeout,
                on_delta=delivery.on_delta,
                on_status=delivery.tool_status,
                label_of=label_of,
                log=tool_log,
            )
        except TimeoutError as exc:
            raise ProviderError(ErrorKind.TIMEOUT, "overall bound") from exc
        return reply, record if remembers else None

    async def _store_reply(
        self,
        asked: StoredMessage,
        persona: Persona,
        reply: ModelReply,
        context: str | None,
        subjects: Subjects | None = None,
    ) -> StoredMessage | None:
        """The answer, with its estimated cost, counted in the spending counters."""
        charge = self.spending.charge(subjects, persona.name) if subjects is not None else None
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
                    usage=self.spending.priced(reply.usage, persona.model.model),
                    asker_id=asked.author_id,
                    context=context,
                    charge=charge,
                )
            )
        except MemoryUnavailable:
            # The answer still reaches the chat; only its copy in memory is missing.
            log.error("could not store the answer in %s", asked.channel)
            return None

    async def _save_tool_calls(
        self, asked: StoredMessage, message_id: int | None, used: ToolLog
    ) -> None:
        if not used.results:
            return
        for result in used.results:
            self.metrics.tool_call(result.call.name, result.seconds, result.error)
        try:
            await self.memory.save_tool_calls(
                asked.channel, message_id, asked.author_id, used.results
            )
        except MemoryUnavailable:
            log.error("could not store the tool calls of a turn in %s", asked.channel)

    async def _save_chain(self, channel: str, response_id: str, message_id: int) -> None:
        try:
            await self.memory.save_chain(channel, response_id, message_id)
        except MemoryUnavailable:
            log.error("could not save the response chain in %s", channel)

    def _failed(
        self, platform: str, channel: ChannelKey, kind: ErrorKind, tag: str | None = None
    ) -> None:
        """A turn ended in a failure line: counted (Prometheus) and remembered in the
        database for the console, in the background (never delaying the line)."""
        self.metrics.turn_failed(platform, kind.value)
        failure = FailedTurn(channel, platform, kind.value, utcnow(), tag)
        task = asyncio.create_task(self._record_failure(failure))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record_failure(self, failure: FailedTurn) -> None:
        try:
            await self.memory.record_failure(failure)
        except Exception as exc:
            log.warning("could not record a failed turn: %s", exc.__class__.__name__)

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

    async def close(self) -> None:
        """Stop the background memory work (a summary cut short is written next time)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=2)
        await self.summarizer.stop()
        if self.embeddings is not None:
            await self.embeddings.stop()


def with_sources(text: str, sources: Sequence[Source]) -> str:
    """The answer, with the pages a hosted web search used listed under it as links."""
    if not sources:
        return text
    lines = []
    for source in sources:
        title = (source.title or source.url).replace("[", "(").replace("]", ")")
        url = source.url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        lines.append(f"- [{title}]({url})")
    return f"{text}\n\nSources:\n" + "\n".join(lines)


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
