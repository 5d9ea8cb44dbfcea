"""`stamgast sources list|add|remove`: a tenant's lookup sources from the shell."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli.base import CliError, _fail, _in_session, cli, console
from app.errors import StamgastError
from app.models import LookupSource, Tenant
from app.screen_pop.broker import make_broker
from app.settings import get_settings
from app.sources import service
from app.sources.lookup import changed_message
from app.sources.schemas import SourceIn

sources_cli = typer.Typer(help="Lookup sources: where callers not known here are looked up.")
cli.add_typer(sources_cli, name="sources")

TenantOption = Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")]


async def _tenant_id(session: AsyncSession, slug: str) -> int:
    tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise CliError(f"tenant {slug!r} does not exist")
    return tenant_id


def _announce(tenant_id: int) -> str:
    """Tell running servers through Redis; without it they notice within 5 minutes."""
    settings = get_settings()
    if not settings.redis_url:
        return " (running servers use it within 5 minutes; with Redis, at once)"

    async def tell() -> None:
        broker = make_broker(settings)
        try:
            await broker.invalidate(changed_message(tenant_id))
        finally:
            await broker.stop()

    asyncio.run(tell())
    return ""


@sources_cli.command("list")
def list_sources(tenant: TenantOption) -> None:
    """The tenant's sources, in the order their answers are merged onto a card."""

    async def work(session: AsyncSession) -> list[LookupSource]:
        return await service.list_sources(session, tenant_id=await _tenant_id(session, tenant))

    rows = _in_session(work)
    table = Table("id", "name", "kind", "enabled", "timeout", "where")
    for row in rows:
        where = str(row.config.get("url") or row.config.get("base_url") or "")
        table.add_row(
            str(row.id), escape(row.name), row.kind, "yes" if row.enabled else "no",
            f"{row.timeout_ms} ms", escape(where),
        )  # fmt: skip
    console.print(table)


@sources_cli.command("add")
def add_source(
    tenant: TenantOption,
    file: Annotated[
        Path,
        typer.Argument(help="A JSON file shaped as the body of POST /v1/sources.", exists=True),
    ],
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            envvar="STAMGAST_SOURCE_SECRET",
            help="Token or password (else: in the file)",
        ),
    ] = None,
) -> None:
    """Add a source from a JSON file (the same shape the API takes)."""
    try:
        raw = json.loads(file.read_text())
        if secret:
            raw["secret"] = secret
        body: SourceIn = TypeAdapter(SourceIn).validate_python(raw)
    except (ValueError, TypeError) as exc:
        problems = exc.errors() if isinstance(exc, ValidationError) else None
        shown = (
            "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems[:5])
            if problems
            else str(exc)
        )
        raise _fail(f"{file}: {shown}") from None

    async def work(session: AsyncSession) -> tuple[int, LookupSource]:
        tenant_id = await _tenant_id(session, tenant)
        try:
            row = await service.create_source(session, tenant_id=tenant_id, body=body)
        except StamgastError as exc:
            raise CliError(exc.message) from None
        return tenant_id, row

    tenant_id, row = _in_session(work)
    later = _announce(tenant_id)
    console.print(f"Added source {row.name!r} ({row.kind}, id {row.id}){later}", markup=False)


@sources_cli.command("remove")
def remove_source(
    tenant: TenantOption,
    name: Annotated[str, typer.Argument(help="The source's name (see `stamgast sources list`).")],
) -> None:
    """Remove a source: it is not asked again."""

    async def work(session: AsyncSession) -> int:
        tenant_id = await _tenant_id(session, tenant)
        row = await session.scalar(
            select(LookupSource).where(
                LookupSource.tenant_id == tenant_id, LookupSource.name == name
            )
        )
        if row is None:
            raise CliError(f"tenant {tenant!r} has no source named {name!r}")
        await session.delete(row)
        return tenant_id

    later = _announce(_in_session(work))
    console.print(f"Removed source {name!r}{later}", markup=False)
