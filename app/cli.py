"""The `stamgast` command: serve, migrate, issue keys, seed the demo, export the OpenAPI file,
and simulate a phone system's call events against a running server.

Thin by design: each command parses its options and calls a module that does the work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from alembic.script import ScriptDirectory
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo, demo_data, openapi_export, simulate
from app.auth.keys import Scope, issue_key, list_keys, revoke_key
from app.auth.revocation import Revoked, announce_from_outside
from app.db import create_engine, create_sessionmaker, session_scope
from app.demo_widget import DEMO_AGENT_TOKEN, ensure_demo_agent_token
from app.migrate import alembic_config, upgrade
from app.models import ApiKey, Tenant
from app.phone import is_valid_region
from app.settings import get_settings
from app.simulate import SECRET_ENV, SimulatedEvent

T = TypeVar("T")

cli = typer.Typer(
    name="stamgast",
    help="Stamgast: who is calling, before hello.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class CliError(Exception):
    """A failure the user can fix: printed as one message, exit code 1."""


def main() -> None:
    """Entry point of the `stamgast` console script."""
    cli()


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def _database_label(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the configured database."""
    engine = create_engine(get_settings().database_url)
    scope = asynccontextmanager(session_scope)
    try:
        async with scope(create_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_run_in_session(work))
    except CliError as exc:
        raise _fail(str(exc)) from None
    except DBAPIError as exc:
        raise _fail(
            f"database error: {exc.orig}\nIs the schema up to date? Run `stamgast migrate`."
        ) from None


def _migrate() -> str:
    """Apply all migrations; the revision the database is now at."""
    url = get_settings().database_url
    upgrade(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return head or "base"


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (idempotent)."""
    revision = _migrate()
    label = _database_label(get_settings().database_url)
    console.print(f"Database at revision [bold]{revision}[/] (head): {escape(label)}")


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
        _key_row, key = await issue_key(session, tenant_id=row.id, name=name, scopes=scopes)
        return row, created, key

    row, created, key = _in_session(work)
    if created:
        console.print(
            f"Created tenant [bold]{escape(row.slug)}[/] ({escape(row.name)}, "
            f"region {row.default_region})"
        )
    console.print(
        f"API key [bold]{escape(name)}[/] for tenant [bold]{escape(row.slug)}[/], "
        f"scopes: {', '.join(sorted(s.value for s in scopes))}"
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
    table = Table("id", "name", "prefix", "scopes", "created", "revoked")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        table.add_row(
            str(key.id), escape(key.name), f"sg_{key.prefix}_…", ", ".join(sorted(key.scopes)),
            f"{key.created_at:%Y-%m-%d %H:%M}", revoked,
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


@cli.command()
def openapi(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write.")] = Path(
        "openapi.yaml"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the file is out of date.")
    ] = False,
) -> None:
    """Write the API's OpenAPI document as YAML (CI checks the committed copy)."""
    if check:
        if not openapi_export.is_current(output):
            raise _fail(openapi_export.OUT_OF_DATE)
        console.print(f"{output} is up to date", markup=False)
        return
    openapi_export.write_openapi(output)
    console.print(f"Wrote {output}", markup=False)


def _print_seed(seed: demo.DemoSeed) -> None:
    console.print(f"Seeded demo tenant '{demo.DEMO_SLUG}' (id {seed.tenant_id}):")
    table = Table()
    table.add_column("what")
    table.add_column("rows", justify="right")
    for what, count in seed.counts.items():
        table.add_row(what.replace("_", " "), str(count))
    console.print(table)


def _print_demo_key() -> None:
    console.print("Demo API key (admin; never use in production):")
    console.print(demo.DEMO_API_KEY, markup=False, soft_wrap=True)


async def _seed_if(
    session: AsyncSession, *, only_if_empty: bool
) -> tuple[demo.DemoSeed | None, bool]:
    """Seed the demo when it (with only_if_empty: any tenant) is absent; (seed, demo present).

    A demo seeded by an older version gets what it lacks since (its phone system).
    """
    tenant_id = await demo.find_demo_tenant(session)
    if tenant_id is not None:
        await ensure_demo_agent_token(session, tenant_id)
        if await demo.ensure_demo_provider(session, tenant_id):
            console.print(
                f"Connected the demo's '{demo.DEMO_GENERIC_PROVIDER}' phone system "
                "(for `stamgast simulate-call`)."
            )
        return None, True
    if only_if_empty and await demo.has_tenants(session):
        return None, False
    seed = await demo.seed_demo(session)
    await ensure_demo_agent_token(session, seed.tenant_id)
    return seed, True


@cli.command("seed-demo")
def seed_demo() -> None:
    """Add the demo tenant 'demo' with callers, history and a fixed admin key (once)."""
    _migrate()
    seed, _present = _in_session(lambda s: _seed_if(s, only_if_empty=False))
    if seed is None:
        console.print(f"Demo tenant '{demo.DEMO_SLUG}' already exists; nothing seeded.")
    else:
        _print_seed(seed)
    _print_demo_key()
    _print_simulate_hint()


def _print_simulate_hint() -> None:
    console.print(
        f"Ring:     stamgast simulate-call {demo.ADA_NUMBER}   (pops Ada's card in the widget)",
        markup=False,
    )


@cli.command()
def serve(
    demo_data: Annotated[
        bool, typer.Option("--demo", help="Seed demo data when the database has no tenant.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Migrate the database, then run the server (add --demo to try it with demo data)."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    revision = _migrate()
    demo_present = False
    if demo_data:
        seed, demo_present = _in_session(lambda s: _seed_if(s, only_if_empty=True))
        if seed is not None:
            _print_seed(seed)
        if not demo_present:
            console.print(
                "The database already has tenants: demo data not seeded "
                "(`stamgast seed-demo` adds it anyway)."
            )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    console.print(
        f"Database: {_database_label(settings.database_url)} (revision {revision})", markup=False
    )
    console.print(f"API docs: {base}/docs", markup=False)
    if demo_present:
        console.print(
            f"Widget:   {base}/widget?token={DEMO_AGENT_TOKEN}   (agent Sanne Visser, ext. 201)",
            markup=False,
            soft_wrap=True,
        )
    else:
        console.print(f"Widget:   {base}/widget", markup=False)
    if demo_present:
        _print_demo_key()
        console.print(
            f'Try:      curl -H "Authorization: Bearer {demo.DEMO_API_KEY}" '
            f'"{base}/v1/lookup?number=%2B31612345678"',
            markup=False,
            soft_wrap=True,
        )
        _print_simulate_hint()
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        proxy_headers=True,
        # Cards are small: compressing each one per agent costs CPU on every pop and
        # ~37 KiB per connection (bench/agents.py, bench/ring_to_pop.py).
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
    )


@cli.command("simulate-call")
def simulate_call(
    number: Annotated[str, typer.Argument(help="The caller's number, as a phone system sends it.")],
    tenant: Annotated[str, typer.Option(help="Slug of the tenant that is called.")] = (
        demo.DEMO_SLUG
    ),
    to: Annotated[
        str, typer.Option("--to", help="The called number (a line; the demo's Amersfoort line).")
    ] = demo_data.AMERSFOORT_LINE_NUMBER,
    event: Annotated[
        SimulatedEvent, typer.Option(help="What happens to the call.")
    ] = SimulatedEvent.RINGING,
    call_id: Annotated[
        str | None,
        typer.Option("--call-id", help="The call to send the event for (default: a new call)."),
    ] = None,
    extension: Annotated[
        str | None, typer.Option(help="The extension that rings (else the line's team).")
    ] = None,
    answered_by: Annotated[
        str | None, typer.Option("--answered-by", help="Extension of the agent who answered.")
    ] = None,
    server: Annotated[str, typer.Option(help="Base URL of the running server.")] = (
        simulate.DEFAULT_SERVER
    ),
    secret: Annotated[
        str | None,
        typer.Option(
            help=f"The {simulate.SIMULATOR_PROVIDER!r} provider's secret; default: ${SECRET_ENV}, "
            "else the tenant's provider config in the database.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send a signed call event to a running server, as a phone system would (`generic`)."""
    try:
        signing_secret = simulate.find_secret(secret, tenant, _in_session)
        call = simulate.SimulatedCall(
            number=number,
            tenant=tenant,
            to=to,
            event=event,
            call_id=call_id or simulate.new_call_id(),
            extension=extension,
            answered_by=answered_by,
        )
        response = simulate.send_event(call, signing_secret, server)
    except simulate.SimulationError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Sent {event.value} for {number} to tenant {tenant}: server answered "
        f"{response.status_code} {response.text.strip()}",
        markup=False,
        soft_wrap=True,
    )
    console.print(f"Call id: {call.call_id}", markup=False)
    if simulate.is_degraded(response):
        console.print("[yellow]The server answered fail-open: the event is held for later.[/]")
    if event is SimulatedEvent.RINGING:
        console.print(
            f"Next:    stamgast simulate-call {number} --tenant {tenant} --event answered "
            f"--answered-by 201 --call-id {call.call_id}",
            markup=False,
            soft_wrap=True,
        )


@cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A CSV file with a header line, or a vCard file.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Slug of the tenant to import into.")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or vcard (default: from the extension).")
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=Header, e.g. display_name=Naam; repeat for more."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter: , ; | or tab (default: from the header).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Region of numbers without country code (default: tenant's).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=20_000, help="Rows per transaction.")] = 2_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read, check and match, but write nothing.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes normalising numbers (default: by file size; 0: none)."),
    ] = None,
) -> None:
    """Import contacts from a CSV or vCard file; re-running the same file changes nothing."""
    from app.importer.errors import UnusableInput
    from app.importer.report import render
    from app.importer.service import ImportOptions, run_import

    options = ImportOptions(
        path=file,
        tenant=tenant,
        format=file_format,
        maps=tuple(maps or ()),
        delimiter=delimiter,
        region=region,
        batch_size=batch,
        dry_run=dry_run,
        workers=workers,
    )
    try:
        report = run_import(get_settings().database_url, options, console=console)
    except UnusableInput as exc:
        raise _fail(str(exc)) from None
    except DBAPIError as exc:
        raise _fail(
            f"database error: {exc.orig}\nIs the schema up to date? Run `stamgast migrate`."
        ) from None
    render(report, console)


if __name__ == "__main__":
    main()
