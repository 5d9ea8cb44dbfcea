"""A started server holds only what serving needs (issue 11: 1,000 idle agents <= 100 MB).

The libraries of features a deployment may never use are imported by their first use, not
at start-up: each would otherwise stay resident in every server process for its whole life
(bench/import_memory.py prints what each costs). The server is started in a fresh
interpreter, as `uvicorn app.main:app` and `stamgast serve` start it: SQLite, no Redis, no
OpenTelemetry, no lookup source, no subscription.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Module -> the first use that imports it.
LOADED_ON_FIRST_USE = {
    "cryptography": "a sipgate or Telnyx signature check (telephony_adapters)",
    "nacl": "no server code; vendor SDKs in tests only",
    "httpx": "an event delivery or an HTTP/FHIR/CardDAV lookup source",
    "rich": "the CLI (and httpx's command line module)",
    "pygments": "the CLI (through rich)",
    "click": "the CLI (through typer)",
    "typer": "the CLI",
    "alembic": "`stamgast migrate`, and `stamgast serve` before the server starts",
    "ldap3": "an LDAP lookup source",
    "vobject": "a CardDAV lookup source",
    "yaml": "`stamgast openapi`",
    "opentelemetry.sdk": "tracing, when OTEL_TRACES_EXPORTER asks for it",
    "redis": "STAMGAST_REDIS_URL",
    "asyncpg": "a PostgreSQL database URL",
    "app.cli": "the `stamgast` command",
    "app.importer": "`stamgast import`",
    "app.demo": "`stamgast serve --demo` and `seed-demo`, before the server starts",
    "app.simulate": "`stamgast simulate-call`",
    "app.migrate": "`stamgast migrate`",
    "app.place_names_build": "the place-name index build (a subprocess of its own)",
}

STARTED_SERVER = """
import asyncio, json, sys
import app.serving  # what `stamgast serve` execs
from app.main import app

async def main() -> None:
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.2)  # the background tasks' first steps
        print(json.dumps(sorted(sys.modules)))

asyncio.run(main())
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_started_server_has_not_imported_what_only_some_features_use(
    database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMGAST_", "OTEL_"))}
    env.update(
        STAMGAST_DATABASE_URL=database_url,
        STAMGAST_SPOOL_PATH=str(tmp_path / "spool.db"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", STARTED_SERVER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "app.main" in loaded and "sqlalchemy" in loaded  # the probe saw a real server
    present = {
        name: why
        for name, why in LOADED_ON_FIRST_USE.items()
        if name in loaded or any(m.startswith(name + ".") for m in loaded)
    }
    assert present == {}, f"imported at start-up, expected only on first use: {present}"
