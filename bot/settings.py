"""Settings the core itself uses. Reading them from the environment is the CLI's job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.prices import PriceTable
from bot.types import Limit

DEFAULT_MODEL = "gpt-4.1"  # what the course uses
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"  # when CHATBOT_PROVIDER=gemini and no CHATBOT_MODEL
DEFAULT_SYSTEM_PROMPT = (
    "You are chatbot, a helpful assistant taking part in a group chat. "
    "User messages are prefixed with the speaker's name as `name: text`; several people may "
    "talk. Answer the latest message addressed to you, in the language it was written in, "
    "concisely. Use what was said earlier in the chat, including messages not addressed to you."
)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """What a provider call uses. None means: do not send, let the server choose."""

    provider: str = "openai"
    model: str = DEFAULT_MODEL
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    max_output_tokens: int | None = 1024
    timeout: float = 60.0
    # "system" for most servers; "developer" for OpenAI reasoning models. Some
    # OpenAI-compatible servers reject "developer", hence a setting.
    system_role: str = "system"
    # Gemini: 0 disables thinking; None leaves the model's default.
    thinking_budget: int | None = None
    # Overrides the built-in context-window table (bot/tokens.py).
    context_window: int | None = None
    # Whether the model reads images; None: the table in bot/vision.py says (most can).
    vision: bool | None = None


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_attempts: int = 3  # attempts in all, for rate limits and server errors
    max_wait: float = 20.0  # never wait longer than this for one Retry-After
    base_backoff: float = 0.5


@dataclass(frozen=True, slots=True)
class MemorySettings:
    """Long memory (bot/long_memory.py): what the model sees beyond the recent window.

    Parts share the turn's token budget; each has a cap, and the recent window always keeps at
    least `recent_share` of the budget for the newest turns.
    """

    summaries: bool = True
    summary_model: str | None = None  # None: the persona's own model
    summary_provider: str | None = None  # None: the persona's own provider
    # A summary is brought up to date once this many messages have slid out of the window
    # unsummarised: about two screens of chat, so a model call is never spent on a few lines.
    summarise_after: int = 30
    summary_batch: int = 200  # messages folded into the summary per model call, at most
    # A channel's first summary starts at most this many messages before the window: a channel
    # with years of history (an upgrade, an import) is not summarised from its first message,
    # which would cost a model call per `summary_batch` of it. Recall still reaches all of it.
    summary_backfill: int = 10_000
    summary_tokens: int = 1_500  # the summary's cap in a turn's context
    recall: bool = True
    recall_messages: int = 6  # recalled messages per turn, at most
    recall_tokens: int = 1_200  # their cap in a turn's context
    recent_share: float = 0.5  # the recent window's guaranteed part of the budget
    embedding_model: str | None = None  # CHATBOT_EMBEDDING_MODEL: semantic recall too
    embedding_provider: str = "openai"


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What the core accepts of attached files (bot/attachments.py); CHATBOT_FILE_* and friends."""

    max_bytes: int = 20 * 1024 * 1024  # one file, as sent (before downscaling)
    max_files: int = 5  # files read per message; the rest are named, not read
    max_pixels: int = 50_000_000  # a bigger image is refused before it is decoded
    max_side: int = 1568  # images are downscaled to fit this many pixels on their longer side
    images_per_turn: int = 4  # images sent with one model call, newest first
    text_max_chars: int = 20_000  # a text file is cut here


@dataclass(frozen=True, slots=True)
class SpendingSettings:
    """Spending limits and prices (bot/spending.py), from the TOML: `[[limits]]`, each tag's
    `[[tags.<tag>.limits]]`, and `[prices]`."""

    limits: tuple[Limit, ...] = ()
    tag_limits: Mapping[str, tuple[Limit, ...]] = field(default_factory=dict)
    prices: PriceTable = field(default_factory=PriceTable)


@dataclass(frozen=True, slots=True)
class BotSettings:
    name: str = "chatbot"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_history_turns: int = 40
    max_history_tokens: int = 12_000
    reply_reserve_tokens: int = 1024
    model: ModelSettings = field(default_factory=ModelSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    # Answers to other bots in a row per channel, until a person speaks: no bot loops.
    max_bot_turns: int = 3
    # Addressed turns per source (the web chat's client address): a classroom behind one NAT
    # asking at once fits in the burst. 0 turns the limit off.
    source_turns_per_minute: float = 60.0
    source_turn_burst: int = 30
    memory: MemorySettings = field(default_factory=MemorySettings)
    files: FileLimits = field(default_factory=FileLimits)
    # Model rounds that may ask for tools before the answer (the last round may not), and how
    # long one tool may take.
    max_tool_rounds: int = 3
    tool_timeout: float = 20.0
    spending: SpendingSettings = field(default_factory=SpendingSettings)
