"""The TOML configuration file: tags (personas), per-channel settings, commands, moderation,
long memory, spending limits and prices.

The built-in file `chatbot/default_config.toml` is always loaded; the file named by
CHATBOT_CONFIG is merged over it (per tag, per key). Errors name the file, the line and the key.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.channel_rules import ChannelOverride, ChatRules, CommandPolicy
from bot.personas import Persona
from bot.prices import Price, PriceTable
from bot.settings import BotSettings, SpendingSettings
from bot.spending import PERIODS, SCOPES
from bot.tools.builtin import BUILTIN_NAMES
from bot.tools.mcp import MCPServerSettings
from bot.types import Limit
from chatbot.model_keys import MODEL_KEYS

log = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "default_config.toml"
BEHAVIOURS = ("chat", "summary", "translate")
_TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ConfigFileError(ValueError):
    """A configuration file that cannot be used. The message names the file and the line."""


# -- the typed shapes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One `[tags.<name>]` table. None: take the default (environment / BotSettings)."""

    name: str
    system_prompt: str | None = None
    description: str = ""
    behaviour: str = "chat"
    needs_text: bool = True
    usage_hint: str = ""
    history_turns: int | None = None
    history_tokens: int | None = None
    enabled: bool = True
    scope: str | None = None  # long memory: "shared" or "member"
    username: str = ""  # Slack: the name and icon a persona posts under (chat:write.customize)
    icon_emoji: str = ""
    icon_url: str = ""
    tools: list[str] | None = None  # None: the default (built-ins for the bot's own tag)
    tool_roles: list[str] = field(default_factory=list)
    tool_users: list[str] = field(default_factory=list)
    web_search: bool = False
    limits: tuple[Limit, ...] = ()  # `[[tags.<name>.limits]]`: on this tag's answers only
    # The ModelSettings keys this tag sets (chatbot/model_keys.py): `model`, `temperature` ...
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str | None:
        value = self.model.get("provider")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class FileConfig:
    tags: dict[str, TagSpec]
    channels: dict[str, ChannelOverride] = field(default_factory=dict)
    commands: CommandPolicy = field(default_factory=CommandPolicy)
    memory: dict[str, Any] = field(default_factory=dict)  # `[memory]`, checked
    mcp: dict[str, MCPServerSettings] = field(default_factory=dict)  # `[mcp.<name>]`
    max_tool_rounds: int = 3
    tool_timeout: float = 20.0
    moderation: bool = False
    source: str = "(built-in defaults)"
    limits: tuple[Limit, ...] = ()  # `[[limits]]`
    prices: PriceTable = field(default_factory=PriceTable)  # `[prices]`


# Each key's expected type: (python types accepted, a word for the error message).
_NUM = ((int, float), "a number")
_INT = ((int,), "an integer")
_STR = ((str,), "a string")
_BOOL = ((bool,), "true or false")
_STRS = ((list,), "a list of strings")
_TABLES = ((list,), "a list of tables ([[...]])")
_BY_KIND = {int: _INT, float: _NUM, str: _STR, bool: _BOOL}
_TAG_OWN_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "system_prompt": _STR,
    "description": _STR,
    "behaviour": _STR,
    "needs_text": _BOOL,
    "usage_hint": _STR,
    "history_turns": _INT,
    "history_tokens": _INT,
    "enabled": _BOOL,
    "scope": _STR,
    "username": _STR,
    "icon_emoji": _STR,
    "icon_url": _STR,
    "tools": _STRS,
    "tool_roles": _STRS,
    "tool_users": _STRS,
    "web_search": _BOOL,
    "limits": _TABLES,
}
_TAG_KEYS = {**_TAG_OWN_KEYS, **{k.name: _BY_KIND[k.kind] for k in MODEL_KEYS.values()}}
_COMMAND_KEYS = {
    "reset_deletes": _BOOL,
    "reset_roles": _STRS,
    "reset_users": _STRS,
    "reset_on_web": _BOOL,
}
_CHANNEL_KEYS = {
    "persona": _STR,
    "system_prompt": _STR,
    "scope": _STR,
    "threads": _BOOL,
    "limits": _TABLES,
}
# One `[[limits]]` table (bot/spending.py): scope, period, and tokens or cost_usd.
_LIMIT_KEYS = {"scope": _STR, "period": _STR, "tokens": _INT, "cost_usd": _NUM}
# `[prices]`: when the table was copied, and USD per million tokens per model.
_PRICES_KEYS = {"as_of": _STR, "models": ((dict,), "a table of models")}
_PRICE_KEYS = {"input": _NUM, "output": _NUM, "cached_input": _NUM}
# `[memory]`: long memory (bot/settings.py MemorySettings), every key optional.
_MEMORY_KEYS = {
    "summaries": _BOOL,
    "summary_model": _STR,
    "summary_provider": _STR,
    "summarise_after": _INT,
    "summary_batch": _INT,
    "summary_backfill": _INT,
    "summary_tokens": _INT,
    "recall": _BOOL,
    "recall_messages": _INT,
    "recall_tokens": _INT,
    "recent_share": _NUM,
}
MEMORY_SCOPES = ("shared", "member")
_MCP_KEYS = {
    "command": _STR,
    "args": _STRS,
    "env": ((dict,), "a table of strings"),
    "url": _STR,
    "web": _BOOL,
}
_TOP_KEYS = (
    "moderation",
    "commands",
    "channels",
    "tags",
    "memory",
    "limits",
    "prices",
    "mcp",
    "max_tool_rounds",
    "tool_timeout",
)


# -- reading ------------------------------------------------------------------------------------


class _Source:
    """A file's text, to point errors at the line of a key (tomllib does not keep positions)."""

    def __init__(self, name: str, text: str):
        self.name = name
        self.lines = text.splitlines()

    def line_of(self, table: tuple[str, ...], key: str | None = None, nth: int = 0) -> int | None:
        """The line of `key` in `table` (its `nth` header, for arrays of tables)."""
        start = 0
        if table:
            start = -1
            seen = 0
            for i, line in enumerate(self.lines):
                header = line.strip()
                if header.startswith("[") and _header_path(header) == table:
                    if seen == nth:
                        start = i
                        break
                    seen += 1
            if start < 0:
                return None
            if key is None:
                return start + 1
            start += 1
        if key is None:
            return None
        pattern = re.compile(rf'^\s*(?:{re.escape(key)}|"{re.escape(key)}")\s*=')
        for i in range(start, len(self.lines)):
            if table and self.lines[i].strip().startswith("["):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def error(
        self, where: tuple[str, ...], key: str | None, problem: str, nth: int | None = None
    ) -> ConfigFileError:
        """`nth`: the place is the nth table of an array of tables (`[[limits]]`)."""
        line = self.line_of(where, key, nth or 0)
        at = f"{self.name}, line {line}" if line else self.name
        path = [_quote(p) for p in where]
        if nth is not None and path:
            path[-1] += f"[{nth}]"
        dotted = ".".join([*path, *([key] if key else [])])
        return ConfigFileError(f"{at}: {dotted}: {problem}")


def _quote(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def _header_path(header: str) -> tuple[str, ...]:
    inner = header.strip("[] \t").split("#")[0].strip().rstrip("]").strip()
    parts = re.findall(r'"([^"]*)"|([^.\s]+)', inner)
    return tuple(a or b for a, b in parts)


def _parse(name: str, text: str) -> tuple[_Source, dict[str, Any]]:
    source = _Source(name, text)
    try:
        return source, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends in "(at line N, column M)": lead with the place instead.
        found = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(exc))
        if found is None:
            raise ConfigFileError(f"{name}: invalid TOML: {exc}") from exc
        what, line, col = found.groups()
        raise ConfigFileError(f"{name}, line {line}, column {col}: invalid TOML: {what}") from exc


def _check(
    source: _Source,
    where: tuple[str, ...],
    table: object,
    keys: Mapping[str, tuple[tuple[type, ...], str]],
) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise source.error(where[:-1], where[-1], "expected a table")
    for key, value in table.items():
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise source.error(where, key, f"unknown key (known keys: {known})")
        types, word = keys[key]
        # bool is an int in Python; a number key must not accept `true`.
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise source.error(where, key, f"expected {word}, got {value!r}")
        if (
            isinstance(value, list)
            and word == _STRS[1]
            and not all(isinstance(v, str) for v in value)
        ):
            raise source.error(where, key, f"expected {word}, got {value!r}")
    return table


def _check_limits(source: _Source, where: tuple[str, ...], limits: object) -> None:
    """Each `[[...limits]]` table: a scope, a period, and tokens or cost_usd (not both)."""
    if not isinstance(limits, list):
        raise source.error(where[:-1], where[-1], "expected a list of tables ([[...limits]])")
    for i, table in enumerate(limits):
        if not isinstance(table, dict):
            raise source.error(where, None, "expected a table", nth=i)
        for key, value in table.items():
            if key not in _LIMIT_KEYS:
                known = ", ".join(sorted(_LIMIT_KEYS))
                raise source.error(where, key, f"unknown key (known keys: {known})", nth=i)
            types, word = _LIMIT_KEYS[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise source.error(where, key, f"expected {word}, got {value!r}", nth=i)
        for key, allowed in (("scope", SCOPES), ("period", PERIODS)):
            if key not in table:
                raise source.error(where, None, f"{key} is missing ({' | '.join(allowed)})", nth=i)
            if table[key] not in allowed:
                raise source.error(where, key, f"must be one of {', '.join(allowed)}", nth=i)
        amounts = [k for k in ("tokens", "cost_usd") if k in table]
        if len(amounts) != 1:
            raise source.error(where, None, "set tokens or cost_usd (one of them)", nth=i)
        if table[amounts[0]] <= 0:
            raise source.error(where, amounts[0], "must be more than 0", nth=i)


def _check_prices(source: _Source, prices: object) -> None:
    table = _check(source, ("prices",), prices, _PRICES_KEYS)
    for model, price in table.get("models", {}).items():
        where = ("prices", "models", model)
        _check(source, where, price, _PRICE_KEYS)
        for key, value in price.items():
            if value < 0:
                raise source.error(where, key, "must be 0 or more")


def _read(source: _Source, data: dict[str, Any]) -> dict[str, Any]:
    """Checks one file's shape; returns it still as plain TOML values (merged before typing)."""
    for key in data:
        if key not in _TOP_KEYS:
            raise source.error((), key, f"unknown key (known keys: {', '.join(_TOP_KEYS)})")
    if "moderation" in data and not isinstance(data["moderation"], bool):
        raise source.error((), "moderation", f"expected true or false, got {data['moderation']!r}")
    _check(source, ("commands",), data.get("commands", {}), _COMMAND_KEYS)
    memory = _check(source, ("memory",), data.get("memory", {}), _MEMORY_KEYS)
    for key in (
        "summarise_after",
        "summary_batch",
        "summary_backfill",
        "summary_tokens",
        "recall_messages",
    ):
        if key in memory and memory[key] < 1:
            raise source.error(("memory",), key, "must be at least 1")
    if "recent_share" in memory and not 0.1 <= memory["recent_share"] <= 1:
        raise source.error(("memory",), "recent_share", "must be between 0.1 and 1")
    for key, kind in (("max_tool_rounds", int), ("tool_timeout", (int, float))):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], kind)):
            raise source.error((), key, f"expected a number, got {data[key]!r}")
    if "max_tool_rounds" in data and not 0 <= data["max_tool_rounds"] <= 20:
        raise source.error((), "max_tool_rounds", "must be between 0 (no tools) and 20")
    if "tool_timeout" in data and not 1 <= data["tool_timeout"] <= 600:
        raise source.error((), "tool_timeout", "must be between 1 and 600 seconds")
    servers = data.get("mcp", {})
    if not isinstance(servers, dict):
        raise source.error((), "mcp", "expected a table of MCP servers")
    for name, table in servers.items():
        if not _TAG_NAME.match(name):
            raise source.error(
                ("mcp", name), None, "a server name is lower case letters, digits, - and _"
            )
        _check(source, ("mcp", name), table, _MCP_KEYS)
        if ("command" in table) == ("url" in table):
            raise source.error(("mcp", name), None, "give either `command` (stdio) or `url` (HTTP)")
        env = table.get("env", {})
        if not all(isinstance(v, str) for v in env.values()):
            raise source.error(("mcp", name), "env", "expected a table of strings")
    if "limits" in data:
        _check_limits(source, ("limits",), data["limits"])
    if "prices" in data:
        _check_prices(source, data["prices"])
    channels = data.get("channels", {})
    if not isinstance(channels, dict):
        raise source.error((), "channels", "expected a table of channels")
    for key, table in channels.items():
        _check(source, ("channels", key), table, _CHANNEL_KEYS)
        if table.get("scope", "shared") not in MEMORY_SCOPES:
            raise source.error(("channels", key), "scope", "must be 'shared' or 'member'")
        if "limits" in table:
            _check_limits(source, ("channels", key, "limits"), table["limits"])
    tags = data.get("tags", {})
    if not isinstance(tags, dict):
        raise source.error((), "tags", "expected a table of tags")
    for name, table in tags.items():
        if not _TAG_NAME.match(name):
            raise source.error(
                ("tags", name), None, "a tag name is lower case letters, digits, - and _"
            )
        _check(source, ("tags", name), table, _TAG_KEYS)
        behaviour = table.get("behaviour", "chat")
        if behaviour not in BEHAVIOURS:
            raise source.error(
                ("tags", name), "behaviour", f"must be one of {', '.join(BEHAVIOURS)}"
            )
        if table.get("scope", "shared") not in MEMORY_SCOPES:
            raise source.error(("tags", name), "scope", "must be 'shared' or 'member'")
        if "limits" in table:
            _check_limits(source, ("tags", name, "limits"), table["limits"])
        role = table.get("system_role")
        if role is not None and role not in ("system", "developer"):
            raise source.error(("tags", name), "system_role", "must be 'system' or 'developer'")
        for key in ("history_turns", "history_tokens", "max_output_tokens"):
            if key in table and table[key] < 1:
                raise source.error(("tags", name), key, "must be at least 1")
        _check_look(source, ("tags", name), table)
    return data


_ICON_EMOJI = re.compile(r"^:[a-z0-9_+'-]+:$")


def _check_look(source: _Source, where: tuple[str, ...], table: dict[str, Any]) -> None:
    """A persona's Slack name and icon: what Slack accepts, or a clear error now."""
    username = table.get("username")
    if username is not None and not (0 < len(username.strip()) <= 80):
        raise source.error(where, "username", "must be 1 to 80 characters")
    emoji = table.get("icon_emoji")
    if emoji is not None and not _ICON_EMOJI.match(emoji):
        raise source.error(where, "icon_emoji", f"must look like :dragon:, got {emoji!r}")
    url = table.get("icon_url")
    if url is not None and not re.match(r"^https?://\S+$", url):
        raise source.error(where, "icon_url", f"must be an http(s) URL, got {url!r}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _typed(data: dict[str, Any], source_name: str, user: _Source | None, name: str) -> FileConfig:
    tags: dict[str, TagSpec] = {}
    for tag, table in data.get("tags", {}).items():
        own = {k: v for k, v in table.items() if k in _TAG_OWN_KEYS and k != "limits"}
        model = {k: v for k, v in table.items() if k in MODEL_KEYS}
        limits = _limits(table.get("limits"), tag)
        spec = TagSpec(name=tag, **own, limits=limits or (), model=model)
        if not spec.enabled:
            if tag == name:
                raise _error_in(user, ("tags", tag), "enabled", f"@{name} cannot be disabled")
            continue
        if spec.system_prompt is None and tag != name:
            raise _error_in(user, ("tags", tag), None, "a new tag needs a system_prompt")
        for tool in spec.tools or ():
            problem = _tool_problem(tool, data.get("mcp", {}))
            if problem:
                raise _error_in(user, ("tags", tag), "tools", problem)
        tags[tag] = spec
    if name not in tags:
        tags[name] = TagSpec(name=name, description="the general assistant")
    channels = {
        key: ChannelOverride(
            persona=t.get("persona"),
            system_prompt=t.get("system_prompt"),
            scope=t.get("scope"),
            threads=t.get("threads", False),
            limits=_limits(t.get("limits")),
        )
        for key, t in data.get("channels", {}).items()
    }
    for key, override in channels.items():
        if override.persona is not None and override.persona.lower() not in tags:
            raise _error_in(
                user, ("channels", key), "persona", f"no tag named {override.persona!r}"
            )
    c = data.get("commands", {})
    commands = CommandPolicy(
        reset_deletes=c.get("reset_deletes", False),
        reset_roles=tuple(c.get("reset_roles", ())),
        reset_users=tuple(c.get("reset_users", ())),
        reset_on_web=c.get("reset_on_web", True),
    )
    return FileConfig(
        tags=tags,
        channels={
            k: dataclasses.replace(v, persona=v.persona.lower() if v.persona else None)
            for k, v in channels.items()
        },
        commands=commands,
        moderation=bool(data.get("moderation", False)),
        memory=dict(data.get("memory", {})),
        mcp={
            name: MCPServerSettings(
                name=name,
                command=t.get("command"),
                args=tuple(t.get("args", ())),
                env=dict(t.get("env", {})),
                url=t.get("url"),
                web=bool(t.get("web", False)),
            )
            for name, t in data.get("mcp", {}).items()
        },
        max_tool_rounds=int(data.get("max_tool_rounds", 3)),
        tool_timeout=float(data.get("tool_timeout", 20.0)),
        source=source_name,
        limits=_limits(data.get("limits")) or (),
        prices=_prices(data.get("prices", {}), user),
    )


def _tool_problem(tool: str, servers: dict[str, Any]) -> str | None:
    """Why a tag's `tools` entry names nothing, or None: a built-in, `mcp:<server>` or
    `mcp:<server>.<tool>` of a server under `[mcp]`."""
    if tool.startswith("mcp:"):
        server = tool[4:].partition(".")[0]
        if server in servers:
            return None
        known = ", ".join(sorted(servers)) or "none"
        return f"{tool!r}: no [mcp.{server}] server is configured (configured: {known})"
    if tool in BUILTIN_NAMES:
        return None
    return f"{tool!r} is not a tool: use {', '.join(BUILTIN_NAMES)} or mcp:<server>"


def _limits(
    tables: list[dict[str, Any]] | None, tag: str | None = None
) -> tuple[Limit, ...] | None:
    """Checked `[[limits]]` tables as Limits; None when the key is absent."""
    if tables is None:
        return None
    return tuple(
        Limit(
            scope=t["scope"],
            period=t["period"],
            tokens=t.get("tokens"),
            cost_usd=float(t["cost_usd"]) if "cost_usd" in t else None,
            tag=tag,
        )
        for t in tables
    )


def _prices(table: dict[str, Any], user: _Source | None) -> PriceTable:
    """Merged over the shipped table first, so a file may change one price of a listed model."""
    for name, p in table.get("models", {}).items():
        for key in ("input", "output"):
            if key not in p:
                problem = f"{key} is missing (USD per million tokens)"
                raise _error_in(user, ("prices", "models", name), None, problem)
    models = {
        name: Price(
            input=float(p["input"]),
            output=float(p["output"]),
            cached_input=float(p["cached_input"]) if "cached_input" in p else None,
        )
        for name, p in table.get("models", {}).items()
    }
    return PriceTable(models=models, as_of=str(table.get("as_of", "")))


def _error_in(
    source: _Source | None, where: tuple[str, ...], key: str | None, problem: str
) -> ConfigFileError:
    return (source or _Source("(built-in defaults)", "")).error(where, key, problem)


def load_config(path: str | None, *, name: str = "chatbot") -> FileConfig:
    """The built-in defaults, with the file at `path` (if any) merged over them.

    A missing file falls back to the defaults with a warning; an invalid one raises
    ConfigFileError naming the file, the line and the problem.
    """
    default_text = resources.files("chatbot").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
    default_source, defaults = _parse(f"chatbot/{DEFAULT_CONFIG_NAME}", default_text)
    data = _read(default_source, defaults)
    if not path:
        return _typed(data, "(built-in defaults)", None, name)
    file = Path(path)
    if not file.is_file():
        log.warning("configuration file %s not found: using the built-in defaults", path)
        return _typed(data, "(built-in defaults)", None, name)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc}") from exc
    source, user = _parse(str(path), text)
    return _typed(_merge(data, _read(source, user)), str(path), source, name)


# -- into the core's shapes ---------------------------------------------------------------------


def build_personas(config: FileConfig, bot: BotSettings) -> dict[str, Persona]:
    """Each tag's settings over the environment's defaults (BotSettings)."""
    personas: dict[str, Persona] = {}
    for tag, spec in config.tags.items():
        personas[tag] = Persona(
            name=tag,
            system_prompt=(spec.system_prompt or bot.system_prompt).strip(),
            model=dataclasses.replace(bot.model, **spec.model),
            max_history_turns=spec.history_turns or bot.max_history_turns,
            max_history_tokens=spec.history_tokens or bot.max_history_tokens,
            description=spec.description,
            needs_text=spec.needs_text,
            usage_hint=spec.usage_hint,
            behaviour=spec.behaviour,
            scope=spec.scope,
            username=spec.username.strip(),
            icon_emoji=spec.icon_emoji,
            icon_url=spec.icon_url,
            tools=tuple(spec.tools) if spec.tools is not None else None,
            tool_roles=tuple(spec.tool_roles),
            tool_users=tuple(spec.tool_users),
            web_search=spec.web_search,
        )
    return personas


def build_spending(config: FileConfig) -> SpendingSettings:
    return SpendingSettings(
        limits=config.limits,
        tag_limits={t.name: t.limits for t in config.tags.values() if t.limits},
        prices=config.prices,
    )


def build_rules(config: FileConfig) -> ChatRules:
    return ChatRules(
        channels=dict(config.channels), commands=config.commands, moderation=config.moderation
    )
