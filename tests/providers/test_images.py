"""An image on the wire of each provider, through its SDK: Chat Completions `image_url` parts,
Responses `input_image`, Gemini inline data; and a tag that cannot see (`vision = false`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing.images import color_of, png, size_of
from testing.stubs.provider_server import ProviderServer
from tests.helpers import Client, RunningApp, start_app
from tests.provider_helpers import PROVIDER_NAMES, model_requests, provider_settings

QUESTION = "alice: what colour is it?\n[image: red.png]"


async def send_picture(app: RunningApp, text: str = "@chatbot what colour is it?") -> str:
    async with httpx.AsyncClient(base_url=app.http) as http:
        up = await http.post(
            "/upload", params={"nickname": "alice", "name": "red.png"}, content=png(64, 48)
        )
    assert up.status_code == 201, up.text
    alice = await Client.connect(app.ws_url("alice"))
    await alice.send({"type": "text", "message": text, "attachments": [up.json()["id"]]})
    answer = await alice.answer()
    await alice.close()
    return str(answer["message"])


def last_image(provider: str, body: dict[str, Any]) -> tuple[str, bytes]:
    """(the text, the image's bytes) of the last user turn, read as each wire format has it."""
    if provider == "openai":
        text, image = body["messages"][-1]["content"]
        assert text["type"] == "text" and image["type"] == "image_url"
        head, _, data = image["image_url"]["url"].partition(",")
        assert head == "data:image/png;base64"
        return text["text"], base64.b64decode(data)
    if provider == "openai-responses":
        item = body["input"][-1]
        assert item["role"] == "user"
        text, image = item["content"]
        assert text["type"] == "input_text" and image["type"] == "input_image"
        head, _, data = image["image_url"].partition(",")
        assert head == "data:image/png;base64"
        return text["text"], base64.b64decode(data)
    text, image = body["contents"][-1]["parts"]
    inline = image.get("inlineData") or image["inline_data"]
    assert inline.get("mimeType", inline.get("mime_type")) == "image/png"
    # The SDK writes bytes as URL-safe base64, which protobuf's JSON (Gemini's API) accepts.
    return text["text"], base64.urlsafe_b64decode(inline["data"])


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_the_image_part_is_on_the_wire(
    provider: str, db_url: str, pserver: ProviderServer
) -> None:
    app = await start_app(provider_settings(db_url, pserver, provider))
    try:
        assert await send_picture(app) == "answer 1"
        text, image = last_image(provider, model_requests(pserver, provider)[-1])
        assert text == QUESTION
        assert size_of(image) == (64, 48) and color_of(image) == (200, 30, 30)
        if provider == "openai-responses":
            # The chain's next call sends only what is new: the image went once.
            alice = await Client.connect(app.ws_url("alice"))
            await alice.say("@chatbot and now?")
            await alice.answer()
            await alice.close()
            chained = pserver.responses_requests()[-1]
            assert chained["previous_response_id"] == "resp_1"
            assert chained["input"] == [{"role": "user", "content": "alice: and now?"}]
    finally:
        await app.stop()


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_a_tag_that_cannot_see_gets_the_text_and_a_line(
    provider: str, db_url: str, pserver: ProviderServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text("[tags.chatbot]\nvision = false\n")
    app = await start_app(provider_settings(db_url, pserver, provider, CHATBOT_CONFIG=str(config)))
    try:
        async with httpx.AsyncClient(base_url=app.http) as http:
            up = await http.post(
                "/upload", params={"nickname": "alice", "name": "red.png"}, content=png()
            )
        alice = await Client.connect(app.ws_url("alice"))
        await alice.send(
            {"type": "text", "message": "@chatbot describe it", "attachments": [up.json()["id"]]}
        )
        line = await alice.until(lambda f: f["type"] == "error")
        assert line["error"] == "cannot_see"
        assert line["message"] == "This model cannot read images, so I answered from the text only."
        assert (await alice.answer())["message"] == "answer 1"
        await alice.close()
    finally:
        await app.stop()
    body = model_requests(pserver, provider)[-1]
    wire = str(body)
    assert "image_url" not in wire and "input_image" not in wire and "inlineData" not in wire
    assert "alice: describe it\\n[image: red.png, by alice, " in wire
    assert "this model cannot read images]" in wire
