"""Schemathesis against a real server: generated requests for every documented operation
never get a 5xx, and every documented response matches its schema.

An empty database only shows what requests can do; rows the API did not write itself (the
demo's) surface only when read back, so every read also runs against the seeded demo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from typer.testing import CliRunner

from app.auth.keys import Scope, issue_key
from app.cli import cli
from app.db import create_engine, create_sessionmaker, session_scope
from app.demo import DEMO_API_KEY
from app.models import Tenant
from app.settings import get_settings
from tests.support.live_server import live_server

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"
# Streams never end and webhooks are vendor-signed: both are tested on their own.
schema = schemathesis.openapi.from_path(str(SPEC)).exclude(path_regex=r"^/(v1/stream|webhooks/)")
# Stored rows reach clients through reads; writes are fuzzed on the empty database above.
demo_reads = schema.include(method="GET")
FUZZ_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


async def _admin_key(database_url: str) -> str:
    engine = create_engine(database_url)
    key = ""
    async for session in session_scope(create_sessionmaker(engine)):
        tenant = Tenant(slug="fuzz", name="Fuzz")
        session.add(tenant)
        await session.flush()
        _row, key = await issue_key(session, tenant_id=tenant.id, name="fuzz", scopes=[Scope.ADMIN])
    await engine.dispose()
    return key


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from app.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    upgrade(url)
    key = asyncio.run(_admin_key(url))
    with live_server(url) as base_url:
        yield base_url, key


def _seed_demo_as_cli(database_url: str) -> None:
    """Seed with `stamgast seed-demo`: the code `stamgast serve --demo` (make run) seeds with."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STAMGAST_DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["seed-demo"])
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def demo_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from app.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz-demo') / 'demo.db'}"
    upgrade(url)
    _seed_demo_as_cli(url)
    with live_server(url) as base_url:
        yield base_url, DEMO_API_KEY


def _call_and_validate(case: schemathesis.Case, target: tuple[str, str]) -> None:
    base_url, key = target
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=10,
    )


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_operations_never_fail_and_match_their_schema(
    case: schemathesis.Case, fuzz_target: tuple[str, str]
) -> None:
    _call_and_validate(case, fuzz_target)


@demo_reads.parametrize()
@FUZZ_SETTINGS
def test_reads_of_the_demo_never_fail_and_match_their_schema(
    case: schemathesis.Case, demo_target: tuple[str, str]
) -> None:
    _call_and_validate(case, demo_target)
