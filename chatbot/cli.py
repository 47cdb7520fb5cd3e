"""`chatbot serve` and `chatbot check`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import gc
import logging
import os
import sys

from dotenv import load_dotenv

from chatbot.config import SECRET_NAMES, AppSettings, ConfigError
from chatbot.providers import PROVIDERS, check_provider_name, missing_for
from chatbot.redact import redact_url


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, SDKs, settings) out of every later full collection.

    The process lives as long as they do. A full collection that walked them all stalled the
    event loop, and so every chat, for about 250 ms in the middle of a burst of turns.
    """
    gc.collect()
    gc.freeze()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from adapters.web.settings import raise_fd_limit
    from chatbot.app import create_app
    from chatbot.operations import GracefulServer

    # A fatal signal (a database file gone bad under SQLite's memory map) at least says where.
    with contextlib.suppress(ValueError, OSError):  # stderr without a file (embedded, tests)
        faulthandler.enable()
    fds = raise_fd_limit()  # WebSockets are capped below it (adapters/web/settings.py)
    settings = AppSettings.from_env()
    app = create_app(settings)
    logging.getLogger("chatbot").info(
        "file descriptors: %d; at most %d WebSockets", fds, settings.web.connection_cap()
    )
    freeze_startup_objects()
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level.lower(), ws_max_size=64 * 1024
    )
    # SIGTERM: stop accepting, finish answers in flight, close WebSockets with 1001.
    GracefulServer(config, app.state.graceful_stop.run).run()
    return 0


def _check_discord(settings: AppSettings) -> None:
    discord = settings.discord
    if not discord.token:
        return
    if discord.shard_ids is not None:
        shards = f"shards {','.join(map(str, discord.shard_ids))} of {discord.shard_count}"
    elif discord.sharded:
        shards = f"all {discord.shard_count or 'auto'} shards"
    else:
        shards = "one connection"
    where = ", ".join(map(str, discord.guilds)) if discord.guilds else "globally"
    commands = f"commands registered {where}" if discord.syncs_commands else "commands: not here"
    content = "on" if discord.message_content else "off"
    print(f"discord:   on ({shards}; {commands}; Message Content intent {content})")


def _check_slack(settings: AppSettings) -> None:
    slack = settings.slack
    if slack is not None:
        ways = [
            name
            for name, on in (
                ("HTTP /slack/events", slack.signing_secret),
                ("Socket Mode", slack.app_token),
            )
            if on
        ]
        mode = (
            "installed through OAuth: GET /slack/install, installations in the database"
            if slack.distributed
            else "one workspace (SLACK_BOT_TOKEN)"
        )
        print(f"slack:     on ({', '.join(ways)}), API {redact_url(slack.base_url)}")
        print(f"           {mode}; slash command {slack.command}; status {slack.status}")
    elif "SLACK_BOT_TOKEN" in settings.secrets or "SLACK_CLIENT_SECRET" in settings.secrets:
        way = "SLACK_BOT_TOKEN" if "SLACK_BOT_TOKEN" in settings.secrets else "SLACK_CLIENT_ID"
        print(
            f"slack:     off: {way} is set, but neither SLACK_SIGNING_SECRET (HTTP) "
            "nor SLACK_APP_TOKEN (Socket Mode)"
        )


def _db(args: argparse.Namespace) -> int:

    from memory.migrate import SchemaError, current, head, upgrade
    from memory.store import make_engine

    settings = AppSettings.from_env()

    async def run() -> int:
        engine = make_engine(settings.database_url)
        try:
            if args.action == "upgrade":
                before, after = await upgrade(engine)
                print(f"schema: {before or 'empty'} -> {after}")
            else:
                print(f"schema: {await current(engine) or 'empty'} (newest: {head()})")
        except SchemaError as exc:
            print(f"chatbot: {exc}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(run())


def _check(_: argparse.Namespace) -> int:
    from bot.attachments import megabytes
    from chatbot.providers import check_tag_providers
    from memory.files import default_files_dir

    settings = AppSettings.from_env()
    check_tag_providers(settings)
    model = settings.bot.model
    check_provider_name(model.provider)
    # Every URL printed goes through redact_url: passwords and tokens hide in URLs too.
    print(f"database:  {redact_url(settings.database_url)}")
    print(f"provider:  {model.provider}  model: {model.model}")
    if settings.openai_base_url:
        print(f"base url:  {redact_url(settings.openai_base_url)}")
    tags = settings.tags
    print(f"config:    {tags.source}")
    print(f"tags:      {', '.join('@' + t for t in tags.tags)}")
    print(f"moderation: {'on' if tags.moderation else 'off'}")
    files = settings.files_dir or str(default_files_dir(settings.database_url))
    limits = settings.bot.files
    print(
        f"files:     {files} (up to {settings.files_inline_max:,} bytes in the database); "
        f"at most {megabytes(limits.max_bytes)}, {limits.max_files} a message, "
        f"{limits.images_per_turn} images a turn; hosts: {', '.join(settings.file_hosts)}"
    )
    if settings.redis_url:
        print(f"redis:     {redact_url(settings.redis_url)}")
    for name in SECRET_NAMES:
        state = "set" if name in settings.secrets else "missing"
        print(f"{name:22} {state}")
    _check_slack(settings)
    _check_discord(settings)
    from chatbot.tool_report import tool_lines

    for line in asyncio.run(tool_lines(settings)):
        print(line)
    if settings.gemini_base_url:
        print(f"gemini url: {redact_url(settings.gemini_base_url)}")
    print()
    for name in PROVIDERS:
        missing = missing_for(settings, name)
        mark = "*" if name == model.provider else " "
        print(f"{mark} {name:18} {'ready' if missing is None else 'missing: ' + missing}")
    chosen = missing_for(settings, model.provider)
    if chosen:
        print(
            f"\nMissing for {model.provider}: {chosen}. "
            "The web chat runs, but @chatbot will answer with setup instructions."
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    parser = argparse.ArgumentParser(prog="chatbot")
    parser.add_argument("--log-level", default=os.environ.get("CHATBOT_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (web chat + configured adapters)")
    serve.add_argument("--host", default=os.environ.get("CHATBOT_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("CHATBOT_PORT", "8000")))
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="database schema: `upgrade` to the newest, or show `current`")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(func=_db)
    check = sub.add_parser("check", help="say what is configured and what is missing")
    check.set_defaults(func=_check)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"chatbot: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
