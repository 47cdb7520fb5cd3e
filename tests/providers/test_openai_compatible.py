"""OpenAI-compatible servers: the configurable system role reaches the wire; `chatbot check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.cli import main
from testing.stubs.model_server import ModelServer
from tests.helpers import Client, settings_for, start_app


@pytest.mark.parametrize("role", ["system", "developer"])
async def test_system_role_reaches_the_wire(db_url: str, model: ModelServer, role: str) -> None:
    app = await start_app(settings_for(db_url, model.url, CHATBOT_SYSTEM_ROLE=role))
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 안녕")
        await c.answer()
        await c.close()
    finally:
        await app.stop()
    messages = model.chat_requests()[0]["messages"]
    assert messages[0]["role"] == role
    assert [m["role"] for m in messages[1:]] == ["user"]


async def test_local_server_needs_no_key(db_url: str, model: ModelServer) -> None:
    # Ollama style: only OPENAI_BASE_URL, no key at all
    settings = settings_for(db_url, None, OPENAI_BASE_URL=model.url, CHATBOT_MODEL="llama3.2")
    app = await start_app(settings)
    try:
        c = await Client.connect(app.ws_url("soyeon"))
        await c.say("@chatbot 안녕")
        answer = await c.answer()
        await c.close()
    finally:
        await app.stop()
    assert answer.get("error") is None
    assert model.chat_requests()[0]["model"] == "llama3.2"


def test_check_reports_each_provider(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    monkeypatch.setenv("CHATBOT_PROVIDER", "gemini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "model: gemini-2.5-flash" in out
    assert "openai-responses   ready" in out
    assert "gemini             missing: GEMINI_API_KEY is not set" in out
    assert "Missing for gemini" in out
    assert "sk-test-not-a-secret" not in out


def test_check_rejects_an_unknown_provider(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBOT_PROVIDER", "claude")
    assert main(["check"]) == 2
    assert "openai, openai-responses, gemini" in capsys.readouterr().err
