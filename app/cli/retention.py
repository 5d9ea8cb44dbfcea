"""`stamgast purge`: delete what tenants keep no longer, and say how much."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli.base import CliError, _in_session, cli, console
from app.models import Tenant, utcnow
from app.retention.service import TABLES, TenantPurge, purge


@cli.command("purge")
def purge_command(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Slug of one tenant (default: every tenant).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Delete nothing; report what would be deleted.")
    ] = False,
) -> None:
    """Delete rows older than each tenant's retention periods (PATCH /v1/tenant)."""

    async def work(session: AsyncSession) -> list[TenantPurge]:
        if tenant is not None:
            found = await session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
            if found is None:
                raise CliError(f"no tenant {tenant!r}: see its slug in GET /v1/tenant")
        reports = await purge(session, now=utcnow(), dry_run=dry_run, tenant_slug=tenant)
        if dry_run:
            await session.rollback()  # nothing was written; say so to the transaction too
        return reports

    reports = _in_session(work)
    if not reports:
        console.print("No tenant has a retention period set: nothing to purge.", markup=False)
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table(title=f"Retention purge ({'dry run' if dry_run else 'done'})")
    table.add_column("tenant")
    for name in TABLES:
        table.add_column(name, justify="right")
    for report in reports:
        counts = [str(report.counts[n]) if n in report.counts else "kept" for n in TABLES]
        table.add_row(report.slug, *counts)
    console.print(table)
    console.print(f"{verb} {sum(r.total for r in reports)} rows", markup=False)
