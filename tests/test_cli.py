"""The `stamgast` command line, run in-process on a migrated SQLite file of its own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.auth.keys import KeyVerifier, Principal
from app.cli import cli
from app.db import create_engine, create_sessionmaker
from app.demo import DEMO_API_KEY
from app.migrate import PROJECT_ROOT, upgrade
from app.models import Contact, Tenant
from app.openapi_export import OUT_OF_DATE, render_openapi
from app.settings import get_settings

KEY = re.compile(r"^sg_[0-9a-f]{8}_\S+$", re.MULTILINE)

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file that the CLI's settings point at."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("STAMGAST_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    monkeypatch.undo()
    get_settings.cache_clear()


def _verify(url: str, key: str) -> Principal | None:
    async def check() -> Principal | None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await KeyVerifier(0).verify(session, key)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def _count(url: str, what: type[Tenant] | type[Contact], **where: str) -> int:
    async def count() -> int:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                query = select(func.count()).select_from(what).filter_by(**where)
                return int(await session.scalar(query) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_create_api_key_creates_the_tenant_and_prints_a_working_key(cli_db: str) -> None:
    result = runner.invoke(
        cli,
        [
            "create-api-key", "--tenant", "acme", "--name", "crm",
            "--scope", "lookup:read", "--scope", "contacts:write",
            "--create-tenant", "--tenant-name", "Acme Zorg", "--region", "BE",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created tenant acme" in result.output
    keys = KEY.findall(result.stdout)
    assert len(keys) == 1, result.output
    principal = _verify(cli_db, keys[0])
    assert principal is not None
    assert principal.name == "crm"
    assert principal.tenant_region == "BE"
    assert principal.scopes == {"lookup:read", "contacts:write"}

    again = runner.invoke(cli, ["create-api-key", "--tenant", "acme", "--scope", "admin"])
    assert again.exit_code == 0, again.output
    assert "Created tenant" not in again.output
    second = KEY.findall(again.stdout)
    assert len(second) == 1 and second != keys
    admin = _verify(cli_db, second[0])
    assert admin is not None and admin.scopes == {"admin"}
    assert _count(cli_db, Tenant, slug="acme") == 1


def test_create_api_key_defaults_to_read_only(cli_db: str) -> None:
    result = runner.invoke(cli, ["create-api-key", "--tenant", "ro", "--create-tenant"])
    assert result.exit_code == 0, result.output
    principal = _verify(cli_db, KEY.findall(result.stdout)[0])
    assert principal is not None and principal.scopes == {"lookup:read"}


def test_create_api_key_roles(cli_db: str) -> None:
    plain = runner.invoke(cli, ["create-api-key", "--tenant", "rl", "--create-tenant"])
    assert plain.exit_code == 0 and "role: agent" in plain.output
    principal = _verify(cli_db, KEY.findall(plain.stdout)[0])
    assert principal is not None and principal.role == "agent"
    crm = runner.invoke(cli, ["create-api-key", "--tenant", "rl", "--role", "supervisor"])
    supervisor = _verify(cli_db, KEY.findall(crm.stdout)[0])
    assert supervisor is not None and supervisor.role == "supervisor"
    admin = runner.invoke(cli, ["create-api-key", "--tenant", "rl", "--scope", "admin"])
    assert "role: admin" in admin.output
    clash = runner.invoke(
        cli, ["create-api-key", "--tenant", "rl", "--scope", "admin", "--role", "agent"]
    )
    assert clash.exit_code == 1 and "role `admin`" in clash.stderr
    unknown = runner.invoke(cli, ["create-api-key", "--tenant", "rl", "--role", "boss"])
    assert unknown.exit_code == 1 and "unknown role 'boss'" in unknown.stderr
    listed = runner.invoke(cli, ["list-api-keys", "--tenant", "rl"])
    assert "supervisor" in listed.output


def test_unknown_tenant_exits_1_and_suggests_create_tenant(cli_db: str) -> None:
    result = runner.invoke(cli, ["create-api-key", "--tenant", "nobody"])
    assert result.exit_code == 1
    assert "tenant 'nobody' does not exist" in result.stderr
    assert "--create-tenant" in result.stderr
    assert not KEY.search(result.output)
    assert _count(cli_db, Tenant, slug="nobody") == 0


def test_unknown_scope_exits_1_and_names_the_scopes(cli_db: str) -> None:
    result = runner.invoke(
        cli, ["create-api-key", "--tenant", "x", "--create-tenant", "--scope", "superuser"]
    )
    assert result.exit_code == 1
    assert "unknown scope 'superuser'" in result.stderr
    assert "lookup:read" in result.stderr
    assert _count(cli_db, Tenant, slug="x") == 0


def test_unknown_region_exits_1(cli_db: str) -> None:
    result = runner.invoke(
        cli, ["create-api-key", "--tenant", "x", "--create-tenant", "--region", "XX"]
    )
    assert result.exit_code == 1
    assert "unknown region 'XX'" in result.stderr


def test_migrate_prints_the_revision(cli_db: str) -> None:
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Database at revision \S+ \(head\)", result.stdout)


def test_openapi_check_passes_on_the_committed_file() -> None:
    result = runner.invoke(
        cli, ["openapi", "--check", "--output", str(PROJECT_ROOT / "openapi.yaml")]
    )
    assert result.exit_code == 0, result.output


def test_openapi_check_fails_on_a_modified_copy(tmp_path: Path) -> None:
    copy = tmp_path / "openapi.yaml"
    copy.write_text((PROJECT_ROOT / "openapi.yaml").read_text(encoding="utf-8") + "# edited\n")
    before = copy.read_bytes()
    result = runner.invoke(cli, ["openapi", "--check", "--output", str(copy)])
    assert result.exit_code == 1
    assert OUT_OF_DATE in result.stderr
    assert copy.read_bytes() == before  # --check writes nothing

    missing = runner.invoke(cli, ["openapi", "--check", "--output", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 1


def test_openapi_writes_what_check_accepts(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    assert runner.invoke(cli, ["openapi", "--output", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == render_openapi()
    assert runner.invoke(cli, ["openapi", "--check", "--output", str(out)]).exit_code == 0


def test_seed_demo_twice_seeds_once(cli_db: str) -> None:
    first = runner.invoke(cli, ["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Seeded demo tenant 'demo'" in first.stdout
    assert DEMO_API_KEY in first.stdout
    contacts = _count(cli_db, Contact)
    assert contacts >= 45

    second = runner.invoke(cli, ["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "already exists; nothing seeded" in second.stdout
    assert DEMO_API_KEY in second.stdout
    assert _count(cli_db, Tenant, slug="demo") == 1
    assert _count(cli_db, Contact) == contacts


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        ([], "stamgast simulate-call +31612345678   (pops"),
        (["--port", "8011"], "stamgast simulate-call +31612345678 --server http://127.0.0.1:8011"),
    ],
)
def test_serve_demo_says_how_to_ring_this_server(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, args: list[str], hint: str
) -> None:
    from app import serving

    served: list[int] = []
    monkeypatch.setattr(serving, "hand_over", lambda _host, port: served.append(port))
    result = runner.invoke(cli, ["serve", "--demo", *args])
    assert result.exit_code == 0, result.output
    assert hint in result.output.replace("\n", " ")
    assert served == [int(args[1]) if args else 8000]
