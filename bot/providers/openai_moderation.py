"""The OpenAI moderation endpoint through the official SDK (`client.moderations.create`)."""

from __future__ import annotations

import openai

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


class OpenAIModerator:
    def __init__(self, client: openai.AsyncOpenAI, model: str = DEFAULT_MODERATION_MODEL):
        self.client = client
        self.model = model

    async def aclose(self) -> None:
        await self.client.close()

    async def flagged(self, text: str) -> bool:
        result = await self.client.moderations.create(model=self.model, input=text)
        return any(r.flagged for r in result.results)
