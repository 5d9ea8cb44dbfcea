"""The ASGI application: where every request enters, and what it is routed to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.routes import api_router
from app.auth.keys import KeyVerifier
from app.db import create_engine, create_sessionmaker
from app.errors import install_error_handlers
from app.health import router as health_router
from app.recognition.router import router as lookup_router
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for the given settings (the environment's by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        yield
        await engine.dispose()

    app = FastAPI(
        title="Stamgast",
        version="0.1.0",
        summary="Caller recognition for contact centres: who is calling, before hello.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.key_verifier = KeyVerifier(settings.api_key_cache_seconds)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(lookup_router, prefix="/v1")
    app.include_router(api_router, prefix="/v1")
    return app


app = create_app()
