"""One FastAPI app: the web chat routes (and, as they land, the Slack endpoint and Discord task)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from adapters.discord.app import DiscordBot
from adapters.web.app import build_health_router, build_web_router
from adapters.web.hub import Hub
from bot.providers.base import Provider, close_provider
from bot.service import ChatService
from chatbot.config import AppSettings
from chatbot.metrics import PrometheusMetrics
from chatbot.model_workers import ModelWorkers
from chatbot.operations import GracefulStop, build_ops_router, start_relay
from chatbot.provider_factory import ProviderConfig
from chatbot.providers import (
    ProviderSet,
    build_moderator,
    check_provider_name,
    check_tag_providers,
    providers_in_use,
)
from chatbot.redact import redact_url
from chatbot.tags_config import build_personas, build_rules
from memory.store import SQLStore

if TYPE_CHECKING:
    from adapters.slack.app import SlackAdapter

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


def build_slack(service: ChatService, settings: AppSettings) -> SlackAdapter | None:
    """The Slack app, when SLACK_BOT_TOKEN and a signing secret or app token are set."""
    if settings.slack is None:
        return None
    from adapters.slack.app import SlackAdapter  # bolt is only imported when Slack is on

    return SlackAdapter(service, settings.slack)


def create_app(
    settings: AppSettings,
    *,
    providers: dict[str, Provider] | None = None,
    store: SQLStore | None = None,
    hub: Hub | None = None,
) -> FastAPI:
    """`providers`, `store` and `hub` replace what settings would build (tests, embedding)."""
    check_provider_name(settings.bot.model.provider)
    store = store or SQLStore.from_url(settings.database_url)
    personas = build_personas(settings.tags, settings.bot)
    check_tag_providers(settings)
    rules = build_rules(settings.tags)
    metrics = PrometheusMetrics()
    workers = (
        ModelWorkers(
            ProviderConfig.of(settings), settings.model_workers, providers_in_use(settings)
        )
        if settings.model_workers
        else None
    )
    provider_set = ProviderSet(settings, providers, workers)
    moderator = build_moderator(settings) if rules.moderation else None
    service = ChatService(
        store,
        provider_set,
        settings.bot,
        personas,
        rules=rules,
        moderator=moderator,
        metrics=metrics,
    )
    hub = hub or Hub()
    metrics.watch_clients("web", hub.count)
    if workers is not None:
        metrics.watch_workers(workers)
    stop = GracefulStop(service, hub, DRAIN_SECONDS)
    slack = build_slack(service, settings)
    # Discord: the gateway client runs as a background task of this app when a token is set.
    discord_bot = DiscordBot(service, settings.discord) if settings.discord.token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_schema()  # Alembic: upgrade to the newest revision, or refuse
        # redact_url, not hide_password: that leaves `?password=` in the query as it was.
        log.info("memory ready at %s", redact_url(store.engine.url.render_as_string(False)))
        relay = await start_relay(settings.redis_url, hub)
        if workers is not None:
            await workers.start()
        provider_set.warm(providers_in_use(settings))
        if slack is not None:
            await slack.start()
        if discord_bot is not None:
            discord_bot.start()
        yield
        await stop.run()  # answers in flight still reach the web, Slack and Discord
        if slack is not None:
            await slack.stop()
        if discord_bot is not None:
            await discord_bot.close()
        if relay is not None:
            await relay.stop()
        if workers is not None:
            await workers.close()
        await provider_set.close()
        if moderator is not None:
            await close_provider(moderator)
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
    app.state.hub = hub
    app.state.store = store
    app.state.discord = discord_bot
    app.state.metrics = metrics
    app.state.graceful_stop = stop
    app.state.model_workers = workers
    app.include_router(build_health_router(hub, settings.cors))
    if settings.web.enabled:
        app.include_router(build_web_router(service, hub, settings.web, cors=settings.cors))
    if settings.metrics:
        app.include_router(build_ops_router(metrics, settings.metrics_token))
    if slack is not None:
        app.state.slack = slack
        app.include_router(slack.router())
    return app
