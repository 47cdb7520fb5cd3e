"""The page's files over HTTP: the policy header, and only the listed files."""

from __future__ import annotations

import httpx

from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp


async def test_page_and_static_files_carry_the_policy(app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=app.http) as http:
        page = await http.get("/")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self' ws: wss:" in csp
        assert "unsafe-inline" not in csp
        assert "<script>" not in page.text  # no inline script: the policy would block it
        for name, kind in [
            ("app.js", "text/javascript"),
            ("style.css", "text/css"),
            ("vendor/marked.umd.js", "text/javascript"),
            ("vendor/purify.min.js", "text/javascript"),
        ]:
            res = await http.get(f"/static/{name}")
            assert res.status_code == 200, name
            assert res.headers["content-type"].startswith(kind)
            assert res.headers["x-content-type-options"] == "nosniff"
            assert f'src="/static/{name}"' in page.text or name == "style.css"
        for bad in [
            "index.html",
            "../web_chat.py",
            "..%2Fweb_chat.py",
            "vendor/README.md",
            "nope.js",
        ]:
            assert (await http.get(f"/static/{bad}")).status_code == 404, bad


async def test_bot_lines_are_marked_in_live_and_stored_frames(
    app: RunningApp, model: ModelServer
) -> None:
    c = await Client.connect(app.ws_url("dana", room="flags"))
    await c.say("@chatbot hi")
    echo = await c.until(lambda f: f.get("nickname") == "dana")
    assert "bot" not in echo
    assert (await c.answer())["bot"] is True
    await c.close()
    async with httpx.AsyncClient(base_url=app.http) as http:
        stored = (await http.get("/messages", params={"room": "flags"})).json()
    assert [f.get("bot") for f in stored] == [None, True]
