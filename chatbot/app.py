"""One FastAPI app: the web chat routes (and, as they land, the Slack endpoint and Discord task)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.web_chat import build_web_router
from adapters.web_hub import Hub
from bot.personas import default_persona
from bot.providers.base import Provider
from bot.service import ChatService
from chatbot.config import AppSettings
from chatbot.metrics import PrometheusMetrics
from chatbot.operations import GracefulStop, build_ops_router, start_relay
from chatbot.providers import ProviderSet, check_provider_name
from memory.store import SQLStore

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


def create_app(
    settings: AppSettings,
    *,
    providers: dict[str, Provider] | None = None,
    hub: Hub | None = None,
) -> FastAPI:
    """`providers` replaces named providers (tests, embedding); the rest come from settings."""
    check_provider_name(settings.bot.model.provider)
    store = SQLStore.from_url(settings.database_url)
    persona = default_persona(settings.bot)
    metrics = PrometheusMetrics()
    service = ChatService(
        store,
        ProviderSet(settings, providers),
        settings.bot,
        {persona.name: persona},
        metrics=metrics,
    )
    hub = hub or Hub()
    metrics.watch_clients("web", hub.count)
    stop = GracefulStop(service, hub, DRAIN_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_schema()  # Alembic: upgrade to the newest revision, or refuse
        log.info("memory ready at %s", store.engine.url.render_as_string(hide_password=True))
        relay = await start_relay(settings.redis_url, hub)
        yield
        await stop.run()
        if relay is not None:
            await relay.stop()
        await store.close()

    app = FastAPI(title="chatbot", lifespan=lifespan)
    app.state.service = service
    app.state.hub = hub
    app.state.store = store
    app.state.metrics = metrics
    app.state.graceful_stop = stop
    app.include_router(build_web_router(service, hub))
    app.include_router(build_ops_router(metrics))
    return app
