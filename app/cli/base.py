"""What every `stamgast` command shares: the Typer app, the consoles, and running work in
one committed transaction with errors a user can act on."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import typer
from alembic.script import ScriptDirectory
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine, create_sessionmaker, session_scope
from app.migrate import alembic_config, upgrade
from app.settings import get_settings

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
