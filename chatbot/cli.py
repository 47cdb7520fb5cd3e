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

from chatbot.config import AppSettings, ConfigError
from chatbot.providers import check_provider_name


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
    from chatbot.check_report import check_lines
    from chatbot.providers import check_tag_providers
    from chatbot.tool_report import tool_lines

    settings = AppSettings.from_env()
    check_tag_providers(settings)
    check_provider_name(settings.bot.model.provider)
    for line in check_lines(settings, tools=asyncio.run(tool_lines(settings))):
        print(line)
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
    # The SDKs' HTTP clients log every request at INFO (one line per model call, per MCP call):
    # noise in a chat service's log. Their warnings still show; DEBUG shows everything.
    if logging.getLogger().level > logging.DEBUG:
        for name in ("httpx", "httpx2"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"chatbot: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
