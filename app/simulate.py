"""`stamgast simulate-call`: send a call event to a running server as a phone system would.

The event is in our signed `generic` JSON format. The secret comes from --secret, else the
environment, else the tenant's provider config in the database. The command itself (its
options and what it prints) is in app/cli/commands.py.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ProviderConfig, Tenant
from app.settings import get_settings
from telephony_adapters.generic import sign_generic

SECRET_ENV = "STAMGAST_SIMULATOR_SECRET"
SIMULATOR_PROVIDER = "generic"
SIMULATOR_TIMEOUT = 10.0
DEFAULT_SERVER = "http://127.0.0.1:8000"

# Runs `work(session)` in one committed transaction (the CLI's, with its error handling).
InSession = Callable[[Callable[[AsyncSession], Awaitable[str]]], str]


class SimulatedEvent(StrEnum):
    """The call events `simulate-call` can send."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    MISSED = "missed"


class SimulationError(Exception):
    """A failure the user can fix: the CLI prints the message and exits with code 1."""


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """One event of one call, as the phone system reports it."""

    number: str
    tenant: str
    to: str
    event: SimulatedEvent
    call_id: str
    extension: str | None = None
    answered_by: str | None = None


def new_call_id() -> str:
    """An id for a call the simulator makes up."""
    return f"sim-{uuid.uuid4().hex[:12]}"


async def provider_secret(session: AsyncSession, tenant: str) -> str:
    """The secret of the tenant's `generic` phone system, from the database."""
    secret = await session.scalar(
        select(ProviderConfig.secret)
        .join(Tenant, Tenant.id == ProviderConfig.tenant_id)
        .where(Tenant.slug == tenant, ProviderConfig.provider == SIMULATOR_PROVIDER)
    )
    if secret is None:
        database = make_url(get_settings().database_url).render_as_string(hide_password=True)
        raise SimulationError(
            f"tenant {tenant!r} has no {SIMULATOR_PROVIDER!r} phone system in the database "
            f"({database}): pass --secret, set "
            f"{SECRET_ENV}, or connect it with PUT /v1/providers/{SIMULATOR_PROVIDER}"
        )
    return secret


def find_secret(given: str | None, tenant: str, in_session: InSession) -> str:
    """--secret, else the environment, else the tenant's provider config in the database."""
    if given:
        return given
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env
    url = make_url(get_settings().database_url)
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    # Connecting would create an empty SQLite file: say what is missing instead.
    if on_disk and not Path(str(url.database)).exists():
        raise SimulationError(
            f"no database at {url.database} to read the {SIMULATOR_PROVIDER!r} secret "
            f"from: pass --secret or set {SECRET_ENV} (or STAMGAST_DATABASE_URL)"
        )
    return in_session(lambda session: provider_secret(session, tenant))


def event_body(call: SimulatedCall) -> bytes:
    """The event in the `generic` JSON format."""
    document: dict[str, str] = {
        "call_id": call.call_id,
        "event": call.event.value,
        "from": call.number,
        "to": call.to,
        "direction": "inbound",
    }
    if call.extension:
        document["extension"] = call.extension
    if call.answered_by:
        document["answered_by"] = call.answered_by
    return json.dumps(document).encode("utf-8")


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """The request headers, with the `generic` signature over `body` made now."""
    return {"Content-Type": "application/json", **sign_generic(secret, body, int(time.time()))}


def server_message(response: httpx.Response) -> str:
    """The error message of a Stamgast error body, else the body as text."""
    try:
        document = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return str(document["message"])
    return response.text.strip()


def post_event(server: str, tenant: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST the signed event to the tenant's webhook; a successful response, else an error."""
    url = f"{server.rstrip('/')}/webhooks/{SIMULATOR_PROVIDER}/{tenant}"
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=SIMULATOR_TIMEOUT)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise SimulationError(
            f"--server must be a URL such as {DEFAULT_SERVER}; got {server!r}"
        ) from None
    except httpx.TimeoutException:
        raise SimulationError(f"{server} did not answer within {SIMULATOR_TIMEOUT:.0f} s") from None
    except httpx.TransportError as exc:
        raise SimulationError(
            f"cannot reach the server at {server} ({type(exc).__name__}): is `make run` running?"
        ) from None
    if response.status_code in (401, 404):
        what = "refused the signature" if response.status_code == 401 else "answered 404"
        raise SimulationError(f"the server {what}: {server_message(response)}")
    if response.is_error:
        raise SimulationError(
            f"the server answered {response.status_code}: {server_message(response)}"
        )
    return response


def send_event(call: SimulatedCall, secret: str, server: str) -> httpx.Response:
    """Build, sign and post one call event; the server's (successful) response."""
    body = event_body(call)
    return post_event(server, call.tenant, body, signed_headers(secret, body))


def is_degraded(response: httpx.Response) -> bool:
    """Whether the server answered fail-open (the event is held for later)."""
    return '"degraded":true' in response.text.replace(" ", "")
