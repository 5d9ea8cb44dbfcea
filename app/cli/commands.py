"""`stamgast migrate`, `openapi`, `seed-demo`, `serve`, `simulate-call` and `import`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo, demo_data, openapi_export, serving, simulate
from app.calls import provider_changes
from app.calls.provider_changes import ConfigChanged
from app.cli.base import (
    _database_label,
    _fail,
    _in_session,
    _migrate,
    cli,
    console,
)
from app.demo_widget import DEMO_AGENT_TOKEN, ensure_demo_agent_token
from app.settings import get_settings
from app.simulate import SECRET_ENV, SimulatedEvent


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (idempotent)."""
    revision = _migrate()
    label = _database_label(get_settings().database_url)
    console.print(f"Database at revision [bold]{revision}[/] (head): {escape(label)}")


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
) -> tuple[demo.DemoSeed | None, bool, bool]:
    """Seed the demo when it (with only_if_empty: any tenant) is absent.

    (seed, demo present, its phone system was connected now). A demo seeded by an older
    version gets what it lacks since (its phone system).
    """
    tenant_id = await demo.find_demo_tenant(session)
    if tenant_id is not None:
        await ensure_demo_agent_token(session, tenant_id)
        connected = await demo.ensure_demo_provider(session, tenant_id)
        if connected:
            console.print(
                f"Connected the demo's '{demo.DEMO_GENERIC_PROVIDER}' phone system "
                "(for `stamgast simulate-call`)."
            )
        return None, True, connected
    if only_if_empty and await demo.has_tenants(session):
        return None, False, False
    seed = await demo.seed_demo(session)
    await ensure_demo_agent_token(session, seed.tenant_id)
    return seed, True, True


def _announce_demo_provider() -> None:
    """Servers sharing Redis may have cached the demo's phone system as not connected."""
    changed = ConfigChanged(demo.DEMO_SLUG, demo.DEMO_GENERIC_PROVIDER)
    asyncio.run(provider_changes.announce_from_outside(get_settings(), changed))


@cli.command("seed-demo")
def seed_demo() -> None:
    """Add the demo tenant 'demo' with callers, history and a fixed admin key (once)."""
    _migrate()
    seed, _present, connected = _in_session(lambda s: _seed_if(s, only_if_empty=False))
    if connected:
        _announce_demo_provider()
    if seed is None:
        console.print(f"Demo tenant '{demo.DEMO_SLUG}' already exists; nothing seeded.")
    else:
        _print_seed(seed)
    _print_demo_key()
    _print_simulate_hint()


def _print_simulate_hint(base: str = simulate.DEFAULT_SERVER) -> None:
    # The command's default server is the default address: any other needs --server.
    server = "" if base.rstrip("/") == simulate.DEFAULT_SERVER.rstrip("/") else f" --server {base}"
    console.print(
        f"Ring:     stamgast simulate-call {demo.ADA_NUMBER}{server}   "
        "(pops Ada's card in the widget)",
        markup=False,
        soft_wrap=True,
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
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    revision = _migrate()
    demo_present = False
    if demo_data:
        seed, demo_present, connected = _in_session(lambda s: _seed_if(s, only_if_empty=True))
        if connected:
            _announce_demo_provider()
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
        console.print(
            f"Dashboard: {base}/dashboard?token={DEMO_AGENT_TOKEN}   (Sanne supervises)",
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
        _print_simulate_hint(base)
    # A fresh interpreter serves: what migrating and seeding imported stays behind.
    serving.hand_over(host, port)


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
