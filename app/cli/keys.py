"""`stamgast create-api-key`, `list-api-keys` and `revoke-api-key`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import RoleConflict, Scope, issue_key, key_role, list_keys, revoke_key
from app.auth.revocation import Revoked, announce_from_outside
from app.auth.roles import Role
from app.cli.base import (
    _SLUG,
    CliError,
    _fail,
    _in_session,
    cli,
    console,
)
from app.models import ApiKey, Tenant
from app.phone import is_valid_region
from app.settings import get_settings


def _parse_scopes(values: list[str] | None) -> list[Scope]:
    known = {s.value: s for s in Scope}
    # Accept repeated options and comma-separated lists alike.
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise _fail(
            f"unknown scope {', '.join(repr(n) for n in unknown)}; choose from {', '.join(known)}"
        )
    return [known[n] for n in names] or [Scope.LOOKUP_READ]


def _parse_role(value: str | None, scopes: list[Scope]) -> Role:
    known = {r.value: r for r in Role}
    if value is not None and value.strip() not in known:
        raise _fail(f"unknown role {value!r}; choose from {', '.join(known)}")
    try:
        return key_role(scopes, None if value is None else known[value.strip()])
    except RoleConflict as exc:
        raise _fail(str(exc)) from exc


@cli.command("create-api-key")
def create_api_key(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant the key is for.")],
    name: Annotated[str, typer.Option(help="What the key is for (shown in the audit trail).")] = (
        "cli"
    ),
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="admin, lookup:read or contacts:write; repeat for more. Default: lookup:read.",
        ),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="What the key may see: agent (no notes, no sensitive notices), supervisor "
            "or admin. Default: admin for an admin-scoped key, else agent.",
        ),
    ] = None,
    create_tenant: Annotated[
        bool, typer.Option("--create-tenant", help="Create the tenant if it does not exist.")
    ] = False,
    tenant_name: Annotated[
        str | None, typer.Option("--tenant-name", help="Display name for a new tenant.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Default number region for a new tenant.")
    ] = None,
) -> None:
    """Issue an API key for a tenant; the key is printed once and only its hash is kept."""
    scopes = _parse_scopes(scope)
    key_role_ = _parse_role(role, scopes)
    new_region = (region or get_settings().default_region).strip().upper()
    if create_tenant:
        if not _SLUG.fullmatch(tenant):
            raise _fail(f"invalid tenant slug {tenant!r}: use lowercase letters, digits and -")
        if not is_valid_region(new_region):
            raise _fail(f"unknown region {new_region!r}: use an ISO country code such as NL")

    async def work(session: AsyncSession) -> tuple[Tenant, bool, str]:
        row = await session.scalar(select(Tenant).where(Tenant.slug == tenant))
        created = False
        if row is None:
            if not create_tenant:
                raise CliError(
                    f"tenant {tenant!r} does not exist; add --create-tenant "
                    "(with --tenant-name and --region) to create it"
                )
            row = Tenant(slug=tenant, name=tenant_name or tenant, default_region=new_region)
            session.add(row)
            await session.flush()
            created = True
        _key_row, key = await issue_key(
            session, tenant_id=row.id, name=name, scopes=scopes, role=key_role_
        )
        return row, created, key

    row, created, key = _in_session(work)
    if created:
        console.print(
            f"Created tenant [bold]{escape(row.slug)}[/] ({escape(row.name)}, "
            f"region {row.default_region})"
        )
    console.print(
        f"API key [bold]{escape(name)}[/] for tenant [bold]{escape(row.slug)}[/], "
        f"scopes: {', '.join(sorted(s.value for s in scopes))}, role: {key_role_.value}"
    )
    console.print(key, markup=False, soft_wrap=True)
    console.print("[yellow]Store it now: it is shown only this once.[/]")


async def _tenant_named(session: AsyncSession, slug: str) -> Tenant:
    row = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if row is None:
        raise CliError(f"tenant {slug!r} does not exist")
    return row


@cli.command("list-api-keys")
def list_api_keys(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")],
) -> None:
    """List a tenant's API keys (never the keys themselves), revoked ones included."""

    async def work(session: AsyncSession) -> list[ApiKey]:
        row = await _tenant_named(session, tenant)
        return list(await list_keys(session, tenant_id=row.id, limit=10_000))

    keys = _in_session(work)
    table = Table("id", "name", "prefix", "scopes", "role", "created", "revoked")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        table.add_row(
            str(key.id), escape(key.name), f"sg_{key.prefix}_…", ", ".join(sorted(key.scopes)),
            key.role, f"{key.created_at:%Y-%m-%d %H:%M}", revoked,
        )  # fmt: skip
    console.print(table if keys else f"Tenant {escape(tenant)} has no API keys.")


@cli.command("revoke-api-key")
def revoke_api_key(
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant.")],
    key_id: Annotated[int, typer.Option("--id", help="The key's id (see list-api-keys).")],
) -> None:
    """Revoke an API key; running servers stop accepting it (at once with Redis)."""

    async def work(session: AsyncSession) -> ApiKey:
        row = await _tenant_named(session, tenant)
        key = await revoke_key(session, tenant_id=row.id, key_id=key_id)
        if key is None:
            raise CliError(f"tenant {tenant!r} has no API key {key_id}; see list-api-keys")
        return key

    key = _in_session(work)
    settings = get_settings()
    told = asyncio.run(announce_from_outside(settings, Revoked("api_key", key.tenant_id, key.id)))
    console.print(f"Revoked API key {key.id} ([bold]{escape(key.name)}[/], sg_{key.prefix}_…).")
    if told:
        console.print("Servers sharing Redis refuse it at once.")
    else:
        console.print(
            f"Running servers refuse it within {settings.api_key_cache_seconds:g} s "
            "(the time they trust a verified key)."
        )
