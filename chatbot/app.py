"""The composition root: settings in, one FastAPI app out, with every configured adapter.

The store, the providers and the core are built once; then each adapter whose settings are
present is imported (and only then its SDK: discord.py, slack-bolt), started with the app and
stopped after the answers in flight.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from adapters.base import Adapter
from bot.providers.base import Provider, close_provider
from bot.service import ChatService
from bot.tools.builtin import builtin_tools
from bot.tools.mcp import MCPServer
from bot.tools.toolbox import ToolBox
from chatbot.config import AppSettings
from chatbot.metrics import PrometheusMetrics
from chatbot.operations import GracefulStop, build_health_router, build_ops_router
from chatbot.providers import (
    ProviderSet,
    build_embedder,
    build_moderator,
    check_provider_name,
    check_tag_providers,
    providers_in_use,
)
from chatbot.redact import redact_url
from chatbot.tags_config import build_personas, build_rules
from memory.store import SQLStore

if TYPE_CHECKING:
    from adapters.web.hub import Hub

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


def build_adapters(
    settings: AppSettings, service: ChatService, *, web_hub: Hub | None = None
) -> list[Adapter]:
    """Every adapter whose settings are present; each platform's SDK is imported only here."""
    adapters: list[Adapter] = []
    if settings.web.enabled:
        from adapters.web.app import WebAdapter

        web = WebAdapter(
            service, settings.web, cors=settings.cors, redis_url=settings.redis_url, hub=web_hub
        )
        adapters.append(web)
    if settings.slack is not None:
        from adapters.slack.app import SlackAdapter

        adapters.append(SlackAdapter(service, settings.slack, file_hosts=settings.file_hosts))
    if settings.discord.token:
        from adapters.discord.app import DiscordAdapter

        adapters.append(DiscordAdapter(service, settings.discord, file_hosts=settings.file_hosts))
    return adapters


def build_toolbox(settings: AppSettings, store: SQLStore) -> ToolBox:
    """The built-in tools over our memory, and one MCP server per `[mcp.<name>]`."""
    servers = [MCPServer(s) for s in settings.tags.mcp.values()]
    return ToolBox(builtin_tools(store), servers, settings.bot.name)


def create_app(
    settings: AppSettings,
    *,
    providers: dict[str, Provider] | None = None,
    store: SQLStore | None = None,
    hub: Hub | None = None,
) -> FastAPI:
    """`providers`, `store` and the web chat's `hub` replace what settings would build (tests)."""
    check_provider_name(settings.bot.model.provider)
    check_tag_providers(settings)
    store = store or SQLStore.from_url(
        settings.database_url,
        files_dir=settings.files_dir,
        inline_max=settings.files_inline_max,
    )
    rules = build_rules(settings.tags)
    metrics = PrometheusMetrics()
    provider_set = ProviderSet(settings, providers)
    moderator = build_moderator(settings) if rules.moderation else None
    embedder = build_embedder(settings)
    tools = build_toolbox(settings, store)
    service = ChatService(
        store,
        provider_set,
        settings.bot,
        build_personas(settings.tags, settings.bot),
        rules=rules,
        moderator=moderator,
        metrics=metrics,
        embedder=embedder,
        tools=tools,
    )
    adapters = build_adapters(settings, service, web_hub=hub)
    for adapter in adapters:
        metrics.watch_clients(adapter.name, adapter.clients)
    stop = GracefulStop(service, adapters, DRAIN_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_schema()  # Alembic: upgrade to the newest revision, or refuse
        # redact_url, not hide_password: that leaves `?password=` in the query as it was.
        log.info("memory ready at %s", redact_url(store.engine.url.render_as_string(False)))
        provider_set.warm(providers_in_use(settings))
        tools.start()  # MCP servers, in the background: their tools join once ready
        for adapter in adapters:
            await adapter.start()
        yield
        await stop.run()  # answers in flight still reach every platform, then adapters stop
        await service.close()  # long memory's background work
        await tools.stop()
        await provider_set.close()
        for extra in (moderator, embedder):
            if extra is not None:
                await close_provider(extra)
        await store.close()

    # FastAPI's /docs, /redoc and /openapi.json list every route to anyone: off unless asked.
    docs = settings.api_docs
    app = FastAPI(
        title="chatbot",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.service = service
    app.state.tools = tools
    app.state.store = store
    app.state.metrics = metrics
    app.state.graceful_stop = stop
    app.state.adapters = {adapter.name: adapter for adapter in adapters}
    app.include_router(build_health_router(adapters, settings.cors))
    if settings.metrics:
        app.include_router(build_ops_router(metrics, settings.metrics_token))
    for adapter in adapters:
        router = adapter.router()
        if router is not None:
            app.include_router(router)
    if settings.admin_token:
        # The operator's console, GET /admin: only when CHATBOT_ADMIN_TOKEN is set.
        from chatbot.console.routes import build_console_router

        console = build_console_router(settings, service, store)
        app.state.console = console  # its routes, for the test that none answers unasked
        app.include_router(console)
    return app
