"""The ASGI application: where every request enters, and what it is routed to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from app import log_privacy, place_names
from app.api.guard import ApiGate
from app.api.rate_limit import Budget, RateLimiter, make_storage, parse_limit
from app.api.routes import api_router
from app.auth import revocation
from app.auth.keys import KeyVerifier
from app.auth.router import router as me_router
from app.callbacks.escalation import escalate_forever
from app.callbacks.originate_answer import router as call_back_answer_router
from app.calls import provider_changes
from app.calls.dead_letters import router as dead_letter_router
from app.calls.hot_path import EventRecorder
from app.calls.hot_store import hot_store_for
from app.calls.providers import ProviderDirectory
from app.calls.receiver import WebhookReceiver
from app.calls.router import config_router as provider_router
from app.calls.router import webhook_route, webhook_router
from app.calls.routing_cache import RoutingCache
from app.calls.spool import default_path as spool_path_for
from app.calls.spool import open_spool
from app.calls.sweeper import sweep_forever
from app.connectors import start_connectors, stop_connectors
from app.db import create_engine, create_sessionmaker
from app.errors import install_error_handlers
from app.gc_tuning import server_gc
from app.health import router as health_router
from app.integrations import threecx
from app.integrations.threecx.delivery import restorer as threecx_restorer
from app.integrations.threecx.router import router as threecx_router
from app.metrics import route as metrics_route
from app.privacy.router import router as privacy_router
from app.recognition.router import router as lookup_router
from app.retention.schedule import purge_forever
from app.satisfaction.ivr_router import router as survey_webhook_router
from app.satisfaction.router import router as satisfaction_router
from app.screen_pop.broker import make_broker
from app.screen_pop.calls_router import router as agent_calls_router
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.recheck import database_check, recheck_forever
from app.screen_pop.router import StreamShortcut
from app.screen_pop.router import router as screen_pop_router
from app.settings import Settings, get_settings
from app.sources import lookup as source_lookup
from app.sources.pops import PopEnricher
from app.sources.router import router as sources_router
from app.stats import ring_to_pop
from app.stats.page import router as dashboard_router
from app.stats.router import router as stats_router
from app.subscriptions.cache import SubscriberCache
from app.subscriptions.openapi import document_events
from app.subscriptions.worker import DeliveryWorker
from app.telemetry import tracing
from app.telemetry.request_ids import RequestIds
from app.tenants.router import router as tenant_router
from app.widget.router import router as widget_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for the given settings (the environment's by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built once per phonenumbers version; done here so no caller waits for it.
        place_names.configure(settings.cache_dir)
        await asyncio.to_thread(place_names.ensure_index)
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        hub = ScreenPopHub(make_broker(settings), settings)
        app.state.hub = hub
        # Revocations announced by any process reach this one's key cache and streams.
        hub.broker.on_invalidation(revocation.listener(app.state.key_verifier, hub))
        # Routing is read from memory; a directory change announced anywhere drops it here.
        routes = RoutingCache(app.state.sessionmaker)
        app.state.routes = routes
        hub.broker.on_invalidation(routes.listener())
        # Each agent's pops in its role's view: roles come with routing, from memory.
        hub.roles = routes.roles
        # Outbound events: one worker per process; subscription changes anywhere wake it.
        worker = DeliveryWorker(
            app.state.sessionmaker,
            timeout_seconds=settings.event_delivery_timeout_seconds,
            lease_seconds=settings.event_lease_seconds,
            poll_seconds=settings.event_poll_seconds,
        )
        app.state.event_worker = worker
        subscribers = SubscriberCache(app.state.sessionmaker, on_change=worker.wake)
        app.state.subscribers = subscribers
        hub.broker.on_invalidation(subscribers.listener())
        await hub.start()
        app.state.provider_directory = ProviderDirectory(public_base_url=settings.public_base_url)
        # Provider config changed by any process: forget it here (cached for minutes).
        hub.broker.on_invalidation(provider_changes.listener(app.state.provider_directory))
        # Lookup sources, asked for numbers not known here; forgotten when changed anywhere.
        lookups = source_lookup.SourceLookups(
            app.state.sessionmaker, deadline_seconds=settings.sources_deadline_ms / 1000
        )
        app.state.source_lookups = lookups
        hub.broker.on_invalidation(source_lookup.listener(lookups))
        spool = open_spool(
            settings.spool_path or spool_path_for(settings.database_url, settings.cache_directory())
        )
        app.state.webhooks = WebhookReceiver(
            sessionmaker=app.state.sessionmaker,
            hub=hub,
            directory=app.state.provider_directory,
            budget_seconds=settings.webhook_budget_seconds,
            spool=spool,
            max_attempts=settings.spool_max_attempts,
            restorers={
                threecx.PROVIDER: threecx_restorer(
                    app.state.sessionmaker, settings.public_base_url or ""
                )
            },
            recorder=EventRecorder(
                sessionmaker=app.state.sessionmaker,
                routes=routes,
                store=hot_store_for(engine),
                subscribers=subscribers,
            ),
            enricher=PopEnricher(lookups),
        )
        await app.state.webhooks.start()
        connectors = await start_connectors(app)
        sweeper = asyncio.create_task(
            sweep_forever(
                app.state.sessionmaker,
                hub,
                interval=settings.call_sweep_interval_seconds,
                ringing_after=timedelta(seconds=settings.call_ringing_timeout_seconds),
                answered_after=timedelta(seconds=settings.call_answered_timeout_seconds),
            )
        )
        escalating = asyncio.create_task(
            escalate_forever(
                app.state.sessionmaker,
                hub,
                routes,
                interval=settings.callback_escalation_interval_seconds,
            ),
            name="callback-escalation",
        )
        purging = None
        if settings.retention_purge:
            purging = asyncio.create_task(
                purge_forever(
                    app.state.sessionmaker,
                    interval=settings.retention_purge_interval_hours * 3600,
                ),
                name="retention-purge",
            )
        if settings.event_delivery:
            worker.start()
        tallying = asyncio.create_task(
            ring_to_pop.flush_forever(
                app.state.sessionmaker, interval=settings.stats_flush_seconds
            ),
            name="ring-to-pop-flush",
        )
        # One task rechecks every open stream's token (not one per connection).
        recheck = asyncio.create_task(
            recheck_forever(
                hub,
                database_check(app.state.sessionmaker),
                settings.stream_token_recheck_seconds,
            ),
            name="screen-pop-token-recheck",
        )
        with server_gc():
            yield
        recheck.cancel()
        sweeper.cancel()
        escalating.cancel()
        tallying.cancel()
        try:  # what this process tallied since the last flush
            await ring_to_pop.flush(app.state.sessionmaker)
        except Exception as exc:
            ring_to_pop.log.warning("ring-to-pop flush at stop failed: %s", type(exc).__name__)
        if purging is not None:
            purging.cancel()
        await worker.stop()
        await stop_connectors(connectors)
        await app.state.webhooks.stop()
        spool.close()
        await hub.stop()
        await limiter.close()
        await engine.dispose()
        metrics_route.process_ended()
        tracing.stop()

    # /docs loads Swagger UI from fastapi-offline's copy, served by us under /docs/assets:
    # FastAPI's own page fetches it from a CDN and stays blank without internet. No ReDoc: its
    # bundle always fetches a logo from redoc.ly, so it cannot be kept on our host.
    app = FastAPIOffline(
        static_url="/docs/assets",
        redoc_url=None,
        title="Stamgast",
        version="0.1.0",
        summary="Caller recognition for contact centres: who is calling, before hello.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.key_verifier = KeyVerifier(settings.api_key_cache_seconds)
    install_error_handlers(app)
    log_privacy.install()
    tracing.configure_from_environment()  # off unless OTEL_* asks for traces
    # One counter store for the API gate and the webhook route (Redis: shared by processes).
    limiter = RateLimiter(make_storage(settings.redis_url))
    app.state.rate_limiter = limiter
    app.state.webhook_budget = Budget(
        parse_limit(settings.webhook_rate_limit), "webhook", "STAMGAST_WEBHOOK_RATE_LIMIT"
    )
    # Added before CORS, so CORS wraps it: a browser can read the gate's errors too.
    app.add_middleware(
        ApiGate,
        max_body_bytes=settings.api_max_body_bytes,
        limiter=limiter,
        per_key=Budget(parse_limit(settings.api_rate_limit), "key", "STAMGAST_API_RATE_LIMIT"),
        per_address=Budget(
            parse_limit(settings.api_anonymous_rate_limit),
            "address",
            "STAMGAST_API_ANONYMOUS_RATE_LIMIT",
        ),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    # Every HTTP request's id and log fields; agent streams get theirs from StreamShortcut.
    app.add_middleware(RequestIds)
    # Last added, so outermost: agent streams skip the layers that only pass them through.
    app.add_middleware(StreamShortcut)
    app.include_router(health_router)
    app.include_router(metrics_route.router)
    app.include_router(lookup_router, prefix="/v1")
    app.include_router(api_router, prefix="/v1")
    app.include_router(me_router, prefix="/v1")
    app.include_router(tenant_router, prefix="/v1")
    app.include_router(privacy_router, prefix="/v1")
    app.include_router(provider_router, prefix="/v1")
    app.include_router(satisfaction_router, prefix="/v1")
    app.include_router(stats_router, prefix="/v1")
    app.include_router(dead_letter_router, prefix="/v1")
    app.include_router(sources_router, prefix="/v1")
    app.include_router(screen_pop_router, prefix="/v1")
    app.include_router(agent_calls_router, prefix="/v1")
    app.include_router(webhook_router)
    app.include_router(survey_webhook_router)
    app.include_router(call_back_answer_router)
    app.include_router(threecx_router)
    app.include_router(widget_router)
    app.include_router(dashboard_router)
    document_events(app)
    # Ahead of every FastAPI route: webhooks skip dependency resolution (see webhook_route).
    app.router.routes.insert(0, webhook_route())
    return app


app = create_app()
