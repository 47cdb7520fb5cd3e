"""Which code the bench measures, and its subprocesses.

A `Checkout` is a directory holding the service's code (this repository by default; any other
checkout with `--root` or `--compare`). Everything of the service runs in a subprocess with that
directory as its cwd and PYTHONPATH, so its `bot`, `memory`, `adapters` and `chatbot` come first
(before this repository's editable install); the bench's own scripts (bench/*.py) and the stubs
(testing/) always come from this repository, and the installed dependencies are this venv's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.cold_start import log_tail
from testing.servers import free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# Anything the caller's shell set for the service stays out: every figure sets what it needs.
# (PYTHONDONTWRITEBYTECODE too: a deployed service starts from cached bytecode.)
_DROP = ("CHATBOT_", "OPENAI_", "GEMINI_", "GOOGLE_", "SLACK_", "DISCORD_")
_DROP_EXACT = ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")


@dataclass(frozen=True)
class Checkout:
    root: Path
    label: str  # "before", "after" or "chatbot"

    @property
    def commit(self) -> str:
        """The short commit hash, `+dirty` if the work tree has changes (git status)."""
        git = ["git", "-C", str(self.root)]
        try:
            head = subprocess.run(
                [*git, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                [*git, "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"
        return head + ("+dirty" if dirty else "")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return clean_env({"PYTHONPATH": str(self.root), **(extra or {})})


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k not in _DROP_EXACT}
    return {**env, **(extra or {})}


def serve_argv() -> list[str]:
    return ["-m", "chatbot.cli", "--log-level", "WARNING", "serve"]


def script_argv(script: str, *args: str) -> list[str]:
    """Run bench/`script` from this repository against the cwd's code (the checkout's)."""
    runner = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    return ["-c", runner, str(BENCH / script), *args]


class Proc:
    """A server subprocess (`chatbot serve` of `checkout`, or one of bench/ with checkout=None)
    that is ready when its /healthz answers."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str],
        log: Path,
        checkout: Checkout | None = None,
    ):
        self.port = free_port()
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(self.port)],
            env=checkout.env(env) if checkout else clean_env(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=checkout.root if checkout else ROOT,
        )

    async def ready(self) -> Proc:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    self._log.flush()
                    raise RuntimeError(
                        f"server exited ({self.proc.args!r}):\n{log_tail(self._log.name)}"
                    )
                try:
                    await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                    return self
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        raise RuntimeError("server not ready")

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 5)
        self._log.close()


async def run_script(
    checkout: Checkout, script: str, *args: str, env: dict[str, str] | None = None
) -> str:
    """bench/`script` in a process of its own, with `checkout`'s code (and `env` added);
    returns its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *script_argv(script, *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=checkout.root,
        env=checkout.env(env),
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} in {checkout.root}:\n{err.decode()}")
    return out.decode()
