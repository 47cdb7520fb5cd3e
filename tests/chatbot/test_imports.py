"""Import what is configured, nothing else: an SDK costs start-up time and memory for nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("discord", "slack_bolt", "slack_sdk", "google.genai", "openai")

# Builds the app and runs its start-up (the providers in use are built then), then reports
# which of the heavy SDKs this process has imported.
PROGRAM = """
import asyncio, json, sys
from chatbot.app import create_app
from chatbot.config import AppSettings

async def main():
    app = create_app(AppSettings.from_env())
    async with app.router.lifespan_context(app):
        pass

asyncio.run(main())
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


def loaded(tmp_path: Path, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(heavy=HEAVY)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))},
            "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
            "OPENAI_API_KEY": "sk-test-not-a-secret",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never called
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_web_chat_on_openai_imports_no_other_sdk(tmp_path: Path) -> None:
    assert loaded(tmp_path) == ["openai"]


def test_each_configured_platform_brings_its_own_sdk(tmp_path: Path) -> None:
    slack = loaded(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="not-a-secret",
        CHATBOT_PROVIDER="gemini",
        GEMINI_API_KEY="not-a-secret",
    )
    assert {"slack_bolt", "slack_sdk", "google.genai"} <= set(slack)
    assert "discord" not in slack
