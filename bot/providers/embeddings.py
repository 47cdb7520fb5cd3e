"""Embedders for semantic recall (CHATBOT_EMBEDDING_MODEL), through each provider's own SDK.

OpenAI's `/v1/embeddings` (and any OpenAI-compatible server that has it, such as Ollama or
vLLM) and Gemini's `embedContent`. Errors are classified like the providers' own, so a failure
is a ProviderError the core can log and retry later; recall then falls back to full text.
"""

from __future__ import annotations

from typing import Any

from bot.errors import ErrorKind, ProviderError

BATCH = 64  # texts per request


class OpenAIEmbedder:
    def __init__(self, client: Any, model: str):
        self.client = client  # openai.AsyncOpenAI
        self.model = model

    async def embed(self, texts: list[str]) -> list[list[float]]:
        from bot.providers.openai_errors import classify_openai_error

        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            try:
                answer = await self.client.embeddings.create(
                    model=self.model, input=texts[start : start + BATCH]
                )
            except Exception as exc:
                raise classify_openai_error(exc) from exc
            ordered = sorted(answer.data, key=lambda d: d.index)
            vectors += [list(d.embedding) for d in ordered]
        if len(vectors) != len(texts):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "embeddings: wrong number of vectors")
        return vectors

    async def aclose(self) -> None:
        await self.client.close()


class GeminiEmbedder:
    def __init__(self, client: Any, model: str):
        self.client = client  # google.genai.Client
        self.model = model

    async def embed(self, texts: list[str]) -> list[list[float]]:
        from bot.providers.gemini_errors import classify_gemini_error

        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            try:
                answer = await self.client.aio.models.embed_content(
                    model=self.model, contents=texts[start : start + BATCH]
                )
            except Exception as exc:
                raise classify_gemini_error(exc) from exc
            vectors += [list(e.values or []) for e in answer.embeddings or []]
        if len(vectors) != len(texts) or any(not v for v in vectors):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "embeddings: wrong number of vectors")
        return vectors

    async def aclose(self) -> None:
        await self.client.aio.aclose()
