"""Lookup sources of a tenant: stored, checked, and tried on a number."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.log_privacy import describe_error
from app.models import LookupSource
from app.phone import PhoneNumber
from app.sources.base import SourceError
from app.sources.lookup import Configured, SourceLookups, SourceRef
from app.sources.registry import BUILDERS, build
from app.sources.schemas import (
    HttpSourceIn,
    LdapSourceIn,
    SourceIn,
    SourceOut,
    SourceRecordOut,
    SourceTestOut,
)


def to_out(row: LookupSource) -> SourceOut:
    """The API's view: everything but the secret."""
    return SourceOut(
        id=row.id,
        name=row.name,
        kind=row.kind,  # type: ignore[arg-type]  # checked on the way in
        enabled=row.enabled,
        config=dict(row.config),
        has_secret=bool(row.secret),
        timeout_ms=row.timeout_ms,
        cache_seconds=row.cache_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_sources(session: AsyncSession, *, tenant_id: int) -> list[LookupSource]:
    """The tenant's sources, in the order they are merged onto a card."""
    rows = await session.scalars(
        select(LookupSource).where(LookupSource.tenant_id == tenant_id).order_by(LookupSource.id)
    )
    return list(rows.all())


async def get_source(session: AsyncSession, *, tenant_id: int, source_id: int) -> LookupSource:
    """One of the tenant's sources; NotFound otherwise."""
    row = await session.get(LookupSource, source_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"No lookup source {source_id} in this tenant: GET /v1/sources lists them.")
    return row


def _needed_secret(body: SourceIn) -> str | None:
    """What the secret is for when the config needs one (None: it needs none)."""
    if isinstance(body, HttpSourceIn) and body.config.auth != "none":
        return {"bearer": "the bearer token", "basic": "the password", "api_key": "the API key"}[
            body.config.auth
        ]
    if isinstance(body, LdapSourceIn) and body.config.bind_dn:
        return "the bind DN's password"
    username = getattr(body.config, "username", None)
    return "the password" if username else None


def _check(body: SourceIn, stored_secret: str | None) -> None:
    if body.kind not in BUILDERS:
        raise InvalidInput(
            f"Sources of kind {body.kind!r} cannot be asked by this version yet: "
            f"use one of {', '.join(sorted(BUILDERS))}."
        )
    needed = _needed_secret(body)
    if needed and not (body.secret or stored_secret):
        raise InvalidInput(
            f"This {body.kind} source needs `secret`: {needed}.",
            code="validation_failed",
        )


async def _name_free(session: AsyncSession, tenant_id: int, name: str, own_id: int | None) -> None:
    taken = await session.scalar(
        select(LookupSource.id).where(
            LookupSource.tenant_id == tenant_id, LookupSource.name == name
        )
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"A source named {name!r} exists already (id {taken}): pick another name.")


async def create_source(session: AsyncSession, *, tenant_id: int, body: SourceIn) -> LookupSource:
    """Store a new source (checked for its kind); Conflict on a taken name."""
    _check(body, None)
    await _name_free(session, tenant_id, body.name, None)
    row = LookupSource(tenant_id=tenant_id, secret=body.secret or None)
    _apply(row, body)
    session.add(row)
    await session.flush()
    return row


async def replace_source(
    session: AsyncSession, *, tenant_id: int, source_id: int, body: SourceIn
) -> LookupSource:
    """Replace a source's settings; a secret left out keeps the stored one."""
    row = await get_source(session, tenant_id=tenant_id, source_id=source_id)
    _check(body, row.secret)
    await _name_free(session, tenant_id, body.name, row.id)
    if body.secret:
        row.secret = body.secret
    _apply(row, body)
    await session.flush()
    return row


def _apply(row: LookupSource, body: SourceIn) -> None:
    row.name = body.name
    row.kind = body.kind
    row.enabled = body.enabled
    row.config = body.config.model_dump(mode="json")
    row.timeout_ms = body.timeout_ms
    row.cache_seconds = body.cache_seconds


async def delete_source(session: AsyncSession, *, tenant_id: int, source_id: int) -> None:
    """Remove a source; NotFound if the tenant has no such one."""
    row = await get_source(session, tenant_id=tenant_id, source_id=source_id)
    await session.delete(row)
    await session.flush()


async def try_source(
    lookups: SourceLookups, row: LookupSource, number: PhoneNumber
) -> SourceTestOut:
    """What a source answers for `number` now (past the cache; disabled sources too)."""
    source = build(row)
    ref = SourceRef(row.id, row.tenant_id, row.name, row.kind, "test", row.timeout_ms / 1000, 0)
    started = time.perf_counter()
    error, records = None, []
    try:
        records = await lookups.ask_one(Configured(ref, source), number)
    except SourceError as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {row.timeout_ms} ms"
    except Exception as exc:  # a fault of the source's client: the admin sees it, no 500
        error = describe_error(exc)
    finally:
        await source.close()
    return SourceTestOut(
        source=row.name,
        number=number.e164 or number.raw,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        ok=error is None,
        error=error,
        records=[
            SourceRecordOut(
                display_name=r.display_name,
                form_of_address=r.form_of_address,
                external_id=r.external_id,
                deep_link=r.deep_link,
                organisation=r.organisation,
                language=r.language,
                flags=list(r.flags),
                last_activity=r.last_activity,
                details=dict(r.details),
            )
            for r in records
        ],
    )
