"""Which models read images. A tag's `vision = true/false` (CHATBOT_VISION) decides first.

Longest model-name prefix wins; a model the table does not know is taken to see (most current
ones do), so a text-only local model needs `vision = false` or an entry here. A model that
cannot see gets each image as its name only (`[image: name, ...]`) and its asker a short line.
"""

from __future__ import annotations

from bot.settings import ModelSettings

VISION: dict[str, bool] = {
    "gpt-3.5": False,
    "gpt-4": False,  # the original gpt-4 and gpt-4-32k read text only
    "gpt-4-turbo": True,
    "gpt-4-vision": True,
    "gpt-4o": True,
    "gpt-4.1": True,
    "gpt-4.5": True,
    "gpt-5": True,
    "gpt-oss": False,
    "o1": True,
    "o1-mini": False,
    "o1-preview": False,
    "o3": True,
    "o3-mini": False,
    "o4-mini": True,
    "gemini": True,
    "gemma3": True,
    "gemma2": False,
    "llama3": False,
    "llama3.2-vision": True,
    "llama4": True,
    "llava": True,
    "mistral": False,
    "mixtral": False,
    "qwen2.5": False,
    "qwen2.5vl": True,
    "qwen3": False,
    "deepseek": False,
    "phi3": False,
    "phi4": False,
}


def can_see(model: ModelSettings) -> bool:
    if model.vision is not None:
        return model.vision
    name = model.model.lower().rsplit("/", 1)[-1]  # `models/gemini-...`, `library/llava`
    best = ""
    for prefix in VISION:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return VISION[best] if best else True
