"""The model settings' keys, derived once from `bot.settings.ModelSettings`.

The same keys are environment variables (`CHATBOT_TEMPERATURE` ...) and keys of a tag in the
TOML file (`temperature = 0.3`): both read them through this table, so a new model setting is
one field in ModelSettings and nothing else.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from bot.settings import ModelSettings


@dataclasses.dataclass(frozen=True, slots=True)
class ModelKey:
    name: str  # the field, and the TOML key
    kind: type  # int, float, str or bool
    optional: bool  # None is allowed (the server chooses)
    env: str  # the environment variable

    def parse(self, raw: str) -> object:
        """One value as written in the environment; ValueError when it is not one."""
        if self.kind is str:
            return raw
        if self.kind is bool:  # `vision`: the words a flag is written with
            word = raw.strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{raw!r} is not a flag")
        return self.kind(raw)


# Where the environment's name is not CHATBOT_<FIELD>: the names people already know.
_ENV_NAMES = {"max_output_tokens": "CHATBOT_MAX_COMPLETION_TOKENS"}


def _kind(hint: object) -> tuple[type, bool]:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        real = [a for a in args if a is not type(None)]
        assert len(real) == 1, hint
        return real[0], True
    assert isinstance(hint, type), hint
    return hint, False


def _keys() -> dict[str, ModelKey]:
    hints = typing.get_type_hints(ModelSettings)
    found: dict[str, ModelKey] = {}
    for f in dataclasses.fields(ModelSettings):
        kind, optional = _kind(hints[f.name])
        env = _ENV_NAMES.get(f.name, f"CHATBOT_{f.name.upper()}")
        found[f.name] = ModelKey(f.name, kind, optional, env)
    return found


MODEL_KEYS: dict[str, ModelKey] = _keys()
