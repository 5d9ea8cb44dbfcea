"""Starting and stopping the configured connectors with the app, and their /readyz lines.

Events a connector reads go to `WebhookReceiver.ingest` for the configured tenant, the
same recording and pops a webhook gets. While the database is down they wait in the
connector's outbox and are retried (see `delivery`): a PBX never repeats an event.
"""

from __future__ import annotations

import random

from fastapi import FastAPI
from pydantic import SecretStr

from app.calls.receiver import WebhookReceiver
from app.connectors.ami import AmiConnector
from app.connectors.base import Backoff, Connector, Runtime, StreamConnector, describe
from app.connectors.config import ConnectorSettings
from app.connectors.delivery import Delivery, Ingest
from app.connectors.esl import EslConnector
from telephony_adapters.base import CallEvent


def _ingest_for(receiver: WebhookReceiver, tenant: str, provider: str) -> Ingest:
    async def ingest(events: list[CallEvent]) -> object:
        return await receiver.ingest(tenant, provider, events)

    return ingest


def build_connectors(
    settings: ConnectorSettings, receiver: WebhookReceiver, *, rng: random.Random | None = None
) -> list[StreamConnector]:
    """The connectors the settings configure, not started."""

    def runtime(tenant: str | None, provider: str) -> Runtime:
        assert tenant is not None  # ConnectorSettings checks every configured one has its tenant
        return Runtime(
            delivery=Delivery(
                provider,
                _ingest_for(receiver, tenant, provider),
                limit=settings.connector_outbox_size,
            ),
            backoff=Backoff(
                settings.connector_backoff_initial_seconds,
                settings.connector_backoff_max_seconds,
                rng=rng,
            ),
            idle_seconds=settings.connector_idle_seconds,
            connect_timeout=settings.connector_connect_timeout_seconds,
            internal_max_digits=settings.connector_internal_max_digits,
        )

    connectors: list[StreamConnector] = []
    if settings.ari_url:
        # Imported here: `websockets` is needed only by deployments that use ARI.
        from app.connectors.ari import AriConnector

        connectors.append(
            AriConnector(
                runtime(settings.ari_tenant, AriConnector.provider),
                url=settings.ari_url,
                app_name=settings.ari_app,
                username=settings.ari_user or "",
                password=_secret(settings.ari_password),
                subscribe_all=settings.ari_subscribe_all,
            )
        )
    if settings.ami_host:
        connectors.append(
            AmiConnector(
                runtime(settings.ami_tenant, AmiConnector.provider),
                host=settings.ami_host,
                port=settings.ami_port,
                username=settings.ami_user or "",
                secret=_secret(settings.ami_secret),
            )
        )
    if settings.esl_host:
        connectors.append(
            EslConnector(
                runtime(settings.esl_tenant, EslConnector.provider),
                host=settings.esl_host,
                port=settings.esl_port,
                password=_secret(settings.esl_password),
            )
        )
    return connectors


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


async def start_connectors(
    app: FastAPI, settings: ConnectorSettings | None = None
) -> list[Connector]:
    """Start the configured connectors (none by default); needs `app.state.webhooks`."""
    settings = settings if settings is not None else ConnectorSettings()
    app.state.connector_settings = settings  # calling back through ARI/ESL reads them too
    connectors: list[Connector] = list(build_connectors(settings, app.state.webhooks))
    app.state.connectors = connectors
    for connector in connectors:
        await connector.start()
    return connectors


async def stop_connectors(connectors: list[Connector]) -> None:
    """Disconnect them and record what they read (briefly); before the receiver stops."""
    for connector in connectors:
        await connector.stop()


def connector_states(app: FastAPI) -> dict[str, str]:
    """`{"connector_asterisk_ami": "connected", …}` for /readyz; empty when none run."""
    connectors: list[Connector] = getattr(app.state, "connectors", [])
    return {f"connector_{connector.name}": describe(connector) for connector in connectors}
