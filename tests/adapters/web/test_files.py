"""The web chat's files over the real wire: `POST /upload`, the WebSocket frame that sends an
upload, `GET /files/{id}` and its headers, the limits, and the image in the model request."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.types import NewAttachment, utcnow
from memory.store import SQLStore
from testing.images import SVG_WITH_SCRIPT, jpeg, png, size_of
from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp, settings_for, start_app


async def upload(
    http: httpx.AsyncClient, data: bytes, name: str = "shot.png", **query: str
) -> httpx.Response:
    params = {"room": "files", "nickname": "alice", "name": name, **query}
    return await http.post("/upload", params=params, content=data)


async def test_an_uploaded_image_is_shown_to_the_room_and_seen_by_the_model(
    app: RunningApp, model: ModelServer
) -> None:
    async with httpx.AsyncClient(base_url=app.http) as http:
        answer = await upload(http, jpeg(3000, 2000), "whiteboard.jpg")
        assert answer.status_code == 201, answer.text
        up = answer.json()
        assert up["kind"] == "image" and up["type"] == "image/jpeg"
        assert (up["width"], up["height"]) == (1568, 1045)  # downscaled on the way in
        assert up["url"] == f"/files/{up['id']}"

        alice = await Client.connect(app.ws_url("alice", room="files"))
        bob = await Client.connect(app.ws_url("bob", room="files"))
        await alice.send(
            {"type": "text", "message": "@chatbot what is on the board?", "attachments": [up["id"]]}
        )
        for client in (alice, bob):
            echo = await client.until(lambda f: f.get("nickname") == "alice")
            assert echo["message"] == "@chatbot what is on the board?"
            assert echo["attachments"] == [
                {
                    "id": up["id"],
                    "name": "whiteboard.jpg",
                    "kind": "image",
                    "type": "image/jpeg",
                    "url": up["url"],
                    "width": 1568,
                    "height": 1045,
                }
            ]
        assert (await bob.answer())["message"] == "answer 1"
        last = model.chat_requests()[0]["messages"][-1]
        assert last["content"][0] == {
            "type": "text",
            "text": "alice: what is on the board?\n[image: whiteboard.jpg]",
        }
        url = last["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        assert size_of(base64.b64decode(url.split(",", 1)[1])) == (1568, 1045)

        served = await http.get(up["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert served.headers["content-disposition"].startswith("inline;")
        assert size_of(served.content) == (1568, 1045)
        history = (await http.get("/messages", params={"room": "files"})).json()
        assert history[0]["attachments"][0]["id"] == up["id"]
        assert "attachments" not in history[1]  # the answer: no key at all
        await alice.close()
        await bob.close()


async def test_clients_that_know_nothing_of_files_see_the_same_frames(app: RunningApp) -> None:
    course = await Client.connect(app.ws_url("course", room="files"))
    await course.say("hello")
    frame = await course.until(lambda f: f.get("message") == "hello")
    assert set(frame) == {"type", "nickname", "message", "timestamp", "id"}
    async with httpx.AsyncClient(base_url=app.http) as http:
        up = (await upload(http, png(), nickname="alice")).json()
    alice = await Client.connect(app.ws_url("alice", room="files"))
    await alice.send({"type": "text", "message": "", "attachments": [up["id"]]})
    seen = await course.until(lambda f: f.get("nickname") == "alice")
    assert seen["type"] == "text" and seen["message"] == ""  # still a frame it can print
    await course.close()
    await alice.close()


async def test_uploads_over_the_limit_of_the_wrong_type_or_svg_are_refused(
    db_url: str, model: ModelServer
) -> None:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_FILE_MAX_BYTES="50000"))
    try:
        async with httpx.AsyncClient(base_url=running.http) as http:
            big = await upload(http, b"\xff\xd8\xff" + bytes(60_000), "huge.jpg")
            assert big.status_code == 413
            assert big.json() == {
                "error": "too_large",
                "detail": "huge.jpg is over the 48.8 KB limit.",
            }

            # Chunked (no Content-Length): refused as soon as it passes the cap.
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(8):
                    yield b"x" * 10_000

            streamed = await http.post(
                "/upload", params={"nickname": "alice", "name": "s.txt"}, content=chunks()
            )
            assert streamed.status_code == 413
            svg = await upload(http, SVG_WITH_SCRIPT, "cat.png")
            assert svg.status_code == 415
            assert "SVG images are not supported" in svg.json()["detail"]
            pdf = await upload(http, b"%PDF-1.7\n...", "homework.png")
            assert pdf.status_code == 415
            assert pdf.json()["detail"] == (
                "homework.png: I can read images (PNG, JPEG, WebP, GIF) and text files, "
                "not this kind of file."
            )
            reserved = await upload(http, png(), nickname="chatbot")
            assert reserved.status_code == 400
            foreign = await http.post(
                "/upload",
                params={"nickname": "alice"},
                content=png(),
                headers={"Origin": "https://evil.example"},
            )
            assert foreign.status_code == 403
            # A frame naming an id nobody uploaded: one line to the sender, the text is kept.
            alice = await Client.connect(running.ws_url("alice"))
            await alice.send({"type": "text", "message": "hi", "attachments": ["0" * 32]})
            line = await alice.until(lambda f: f["type"] == "error")
            assert line["error"] == "file_refused" and "not found" in line["message"]
            await alice.send({"type": "text", "message": "x", "attachments": ["../etc"]})
            bad = await alice.until(lambda f: f["type"] == "error")
            assert "ids POST /upload answered" in bad["message"]
            await alice.close()
    finally:
        await running.stop()


async def test_files_need_the_join_code_and_only_web_files_are_served(
    db_url: str, model: ModelServer
) -> None:
    running = await start_app(settings_for(db_url, model.url, CHATBOT_WEB_TOKEN="class-42"))
    try:
        async with httpx.AsyncClient(base_url=running.http) as http:
            assert (await upload(http, png())).status_code == 401
            ok = await upload(http, png(), token="class-42")
            assert ok.status_code == 201
            url = ok.json()["url"]
            assert (await http.get(url)).status_code == 401
            assert (await http.get(url, params={"token": "class-42"})).status_code == 200
            bearer = {"Authorization": "Bearer class-42"}
            assert (await http.get(url, headers=bearer)).status_code == 200
            # A Discord file in the same store is not the web's to show.
            store: SQLStore = running.app.state.store
            (private,) = await store.add_files(
                None,
                [
                    NewAttachment(
                        channel="discord:1:2",
                        name="dm.png",
                        kind="image",
                        media_type="image/png",
                        data=png(),
                        author_name="minseo",
                        created_at=utcnow(),
                    )
                ],
            )
            hidden = await http.get(f"/files/{private.id}", headers=bearer)
            assert hidden.status_code == 404
            assert (await http.get("/files/not-an-id", headers=bearer)).status_code == 404
    finally:
        await running.stop()


async def test_text_files_download_and_reset_deletes_the_rooms_files(
    db_url: str, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text("[commands]\nreset_deletes = true\n")
    running = await start_app(
        settings_for(db_url, model.url, CHATBOT_CONFIG=str(config), CHATBOT_FILES_INLINE_MAX="0")
    )
    store: SQLStore = running.app.state.store
    try:
        async with httpx.AsyncClient(base_url=running.http) as http:
            page = b"<script>alert('x')</script> is just text here"
            text = (await upload(http, page, "notes.html")).json()
            image = (await upload(http, png(), "a.png")).json()
            served = await http.get(text["url"])
            assert served.headers["content-type"] == "text/plain; charset=utf-8"
            assert served.headers["content-disposition"].startswith("attachment;")
            assert served.headers["x-content-type-options"] == "nosniff"
            alice = await Client.connect(running.ws_url("alice", room="files"))
            await alice.send(
                {"type": "text", "message": "two files", "attachments": [text["id"], image["id"]]}
            )
            await alice.until(lambda f: f.get("message") == "two files")
            assert store.folder.count() == 2  # both on disk (CHATBOT_FILES_INLINE_MAX=0)
            await alice.say("@chatbot reset")
            done = await alice.answer()
            assert "deleted 2 stored messages" in done["message"]
            assert store.folder.count() == 0
            assert (await http.get(image["url"])).status_code == 404
            await alice.close()
    finally:
        await running.stop()


async def test_uploads_per_address_are_limited(db_url: str, model: ModelServer) -> None:
    running = await start_app(
        settings_for(
            db_url,
            model.url,
            CHATBOT_WEB_UPLOAD_BURST="2",
            CHATBOT_WEB_UPLOADS_PER_MINUTE="1",
        )
    )
    try:
        async with httpx.AsyncClient(base_url=running.http) as http:
            codes = [(await upload(http, png())).status_code for _ in range(3)]
            assert codes == [201, 201, 429]
            refused = await upload(http, png())
            assert refused.json()["error"] == "too_many_uploads"
    finally:
        await running.stop()
