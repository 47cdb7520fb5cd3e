"""Per-tag work the core does before a model call: `@summary N`, `@translate <lang> text`.

The prompts live in the configuration file; this module only reads the few arguments that
change what is sent (how many messages, which target language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.personas import Persona

MAX_SUMMARY_MESSAGES = 500  # `@summary 100000` reads at most this many

# Codes accepted as `@translate <code> text`. Two-letter codes that are also English words
# ("it", "hi", "no") are left out, so `@translate it is raining` translates the whole line.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ko": "Korean",
    "ja": "Japanese",
    "zh": "Chinese",
    "zh-cn": "Simplified Chinese",
    "zh-tw": "Traditional Chinese",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "ru": "Russian",
    "vi": "Vietnamese",
    "th": "Thai",
    "id": "Indonesian",
    "ar": "Arabic",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "sv": "Swedish",
    "mn": "Mongolian",
}

_SUMMARY_ARG = re.compile(r"^(\d{1,7})(?:\s+|$)")
_LANG_ARG = re.compile(r"^([A-Za-z]{2}(?:-[A-Za-z]{2})?)[\s:]+(.*)$", re.DOTALL)
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class Prepared:
    """What this one call sends instead of the persona's defaults."""

    system_prompt: str
    history_turns: int  # messages read from the channel, the asking one included
    # Replaces the asking message's turn (None: `name: text` as usual).
    final_turn: str | None = None


def is_mostly_korean(text: str) -> bool:
    letters = _LETTER.findall(text)
    if not letters:
        return False
    # A Hangul syllable holds more than a Latin letter: a third of the letters is enough.
    return sum(1 for ch in letters if _HANGUL.match(ch)) * 3 >= len(letters)


def needs_usage_hint(persona: Persona, text: str) -> bool:
    """An empty `@tag` where text is needed, or `@translate en` with nothing to translate."""
    if persona.needs_text and not text.strip():
        return True
    return persona.behaviour == "translate" and text.strip().lower() in LANGUAGES


def prepare(persona: Persona, text: str, author: str) -> Prepared:
    """`text` is the message with the tag stripped; `author` is the asker's display name."""
    if persona.behaviour == "summary":
        return _summary(persona, text, author)
    if persona.behaviour == "translate":
        return _translate(persona, text)
    return Prepared(persona.system_prompt, persona.max_history_turns)


def _summary(persona: Persona, text: str, author: str) -> Prepared:
    n = persona.max_history_turns
    found = _SUMMARY_ARG.match(text)
    if found:
        n = max(1, min(int(found.group(1)), MAX_SUMMARY_MESSAGES))
        text = text[found.end() :].strip()
    ask = f"{author} asks: summarise the {n} messages above."
    if text:
        ask += f" Focus: {text}"
    # The N messages before the request, plus the request itself.
    return Prepared(persona.system_prompt, n + 1, final_turn=ask)


def target_language(text: str) -> tuple[str, str, str]:
    """(code, language name, the text to translate). Without a code: Korean → en, else → ko."""
    found = _LANG_ARG.match(text)
    if found and found.group(1).lower() in LANGUAGES and found.group(2).strip():
        code = found.group(1).lower()
        return code, LANGUAGES[code], found.group(2).strip()
    code = "en" if is_mostly_korean(text) else "ko"
    return code, LANGUAGES[code], text


def _translate(persona: Persona, text: str) -> Prepared:
    code, name, body = target_language(text)
    system = (
        f"{persona.system_prompt}\n\nTarget language: {name} ({code}). "
        "Reply with the translation only."
    )
    # A translation reads nothing but the text: the channel's history would only confuse it.
    return Prepared(system, 1, final_turn=body)
