"""The console script: `chatbot check` says what is set without printing secrets; `serve` runs."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from testing.mcp_servers import CRASH_SERVER, TOOLS, stdio_settings, toml_table
from tests.helpers import Client, settings_for, start_app


def run_check(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CHATBOT"))}
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "check"],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_reports_missing_and_never_prints_secrets(tmp_path):
    secret = "sk-super-secret-value-123"
    done = run_check({"OPENAI_API_KEY": secret, "SLACK_BOT_TOKEN": "xoxb-secret-999"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert "xoxb-secret-999" not in done.stdout + done.stderr
    assert "OPENAI_API_KEY" in done.stdout and "set" in done.stdout
    assert "DISCORD_TOKEN" in done.stdout and "missing" in done.stdout

    bare = run_check({}, tmp_path)
    assert "Missing for openai: OPENAI_API_KEY" in bare.stdout
    assert "discord:   off" in bare.stdout


def test_check_says_which_discord_shards_run_here(tmp_path):
    env = {
        "DISCORD_TOKEN": "discord-secret-777",
        "CHATBOT_DISCORD_SHARDS": "4-7",
        "CHATBOT_DISCORD_SHARD_COUNT": "8",
    }
    done = run_check(env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "discord:   on (shards 4,5,6,7 of 8; commands: not here;" in done.stdout
    assert "discord-secret-777" not in done.stdout + done.stderr
    first = run_check(
        {**env, "CHATBOT_DISCORD_SHARDS": "0-3", "CHATBOT_DISCORD_GUILDS": "12"}, tmp_path
    )
    assert "commands registered 12;" in first.stdout
    broken = run_check({**env, "CHATBOT_DISCORD_SHARDS": "8"}, tmp_path)
    assert broken.returncode != 0 and "shard 8 does not exist" in broken.stderr


def test_check_says_how_slack_is_installed_without_the_client_secret(tmp_path):
    env = {
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "client-secret-4242",
        "SLACK_SIGNING_SECRET": "signing-secret-4343",
    }
    done = run_check(env, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "installed through OAuth: GET /slack/install" in out
    assert "slash command /chatbot" in out
    assert "client-secret-4242" not in out and "signing-secret-4343" not in out
    both = run_check({**env, "SLACK_BOT_TOKEN": "xoxb-1"}, tmp_path)
    assert both.returncode == 2 and "set one or the other" in both.stderr


def test_check_masks_credentials_in_every_url_it_prints(tmp_path):
    env = {
        "OPENAI_BASE_URL": "http://oa-user:oa-pass-111@llm.internal:11434/v1?api_key=oa-key-222",
        "CHATBOT_DATABASE_URL": (
            "postgresql+asyncpg://chat:db-pass-333@db.internal:5432/chatbot?Password=db-pass-444"
        ),
        "GOOGLE_GEMINI_BASE_URL": "https://gemini.internal/v1beta?key=g-key-555&alt=sse",
        "SLACK_BOT_TOKEN": "xoxb-not-real",
        "SLACK_SIGNING_SECRET": "signing-secret-666",
        "SLACK_API_URL": "https://s-user:s-pass-777@slack.internal/api/",
        "CHATBOT_REDIS_URL": "redis://:r-pass-888@redis.internal:6379/0?auth_token=r-tok-999",
    }
    done = run_check(env, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    for secret in ("oa-pass-111", "oa-key-222", "db-pass-333", "db-pass-444", "g-key-555"):
        assert secret not in out, secret
    for secret in ("signing-secret-666", "s-pass-777", "r-pass-888", "r-tok-999", "xoxb-not"):
        assert secret not in out, secret
    # What is not secret stays readable: scheme, user, host, port, path, other parameters.
    assert "base url:  http://oa-user:***@llm.internal:11434/v1?api_key=***" in out
    assert "database:  postgresql+asyncpg://chat:***@db.internal:5432/chatbot?Password=***" in out
    assert "gemini url: https://gemini.internal/v1beta?key=***&alt=sse" in out
    assert "API https://s-user:***@slack.internal/api/" in out
    assert "redis:     redis://:***@redis.internal:6379/0?auth_token=***" in out


def test_check_reads_a_dotenv_file_and_rejects_bad_values(tmp_path):
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\nCHATBOT_MODEL=gpt-4o-mini\n")
    done = run_check({}, tmp_path)
    assert "gpt-4o-mini" in done.stdout and "sk-from-dotenv" not in done.stdout
    bad = run_check({"CHATBOT_TEMPERATURE": "warm"}, tmp_path)
    assert bad.returncode == 2 and "CHATBOT_TEMPERATURE" in bad.stderr


async def test_model_settings_reach_the_wire(db_url, model):
    running = await start_app(
        settings_for(
            db_url,
            model.url,
            CHATBOT_MODEL="gpt-4o-mini",
            CHATBOT_TEMPERATURE="0.3",
            CHATBOT_TOP_P="0.9",
            CHATBOT_FREQUENCY_PENALTY="0.1",
            CHATBOT_PRESENCE_PENALTY="0.2",
            CHATBOT_MAX_COMPLETION_TOKENS="77",
            CHATBOT_SYSTEM_PROMPT="Be brief.",
        )
    )
    try:
        c = await Client.connect(running.ws_url("u"))
        await c.say("@chatbot hi")
        await c.answer()
        body = model.chat_requests()[0]
        assert body["model"] == "gpt-4o-mini"
        assert (body["temperature"], body["top_p"]) == (0.3, 0.9)
        assert (body["frequency_penalty"], body["presence_penalty"]) == (0.1, 0.2)
        assert body["max_completion_tokens"] == 77
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert model.requests[0].headers["Authorization"] == "Bearer sk-test-not-a-secret"
        await c.close()
    finally:
        await running.stop()


async def test_serve_starts_the_service(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CHATBOT"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot.cli",
        "serve",
        "--port",
        str(port),
        env={**clean, "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("serve did not come up")
        assert health.json()["ok"] is True
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    assert (tmp_path / "x.db").exists()


def test_check_starts_each_mcp_server_and_lists_its_tools(tmp_path):
    config = tmp_path / "chatbot.toml"
    config.write_text(
        '[tags.chatbot]\ntools = ["current_time", "mcp:weather", "mcp:broken"]\n\n'
        + toml_table(stdio_settings("weather"))
        + toml_table(stdio_settings("broken", script=CRASH_SERVER))
    )
    done = run_check({"CHATBOT_CONFIG": str(config)}, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("tools:     built in: search_memory, current_time, channel_summary")
        for line in lines
    )
    weather = next(line for line in lines if line.startswith("mcp weather:"))
    assert weather.startswith("mcp weather: ready (stdio: ")
    assert weather.endswith(": " + ", ".join(sorted(TOOLS)))
    broken = next(line for line in lines if line.startswith("mcp broken:"))
    assert broken.startswith("mcp broken: FAILED") and "cannot start" in broken


def test_check_refuses_a_tag_naming_an_unknown_tool(tmp_path):
    config = tmp_path / "chatbot.toml"
    config.write_text('[tags.chatbot]\ntools = ["search_memory", "mcp:nowhere"]\n')
    done = run_check({"CHATBOT_CONFIG": str(config)}, tmp_path)
    assert done.returncode == 2
    assert "tags.chatbot.tools" in done.stderr and "no [mcp.nowhere] server" in done.stderr
