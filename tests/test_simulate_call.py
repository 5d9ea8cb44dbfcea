"""`stamgast simulate-call` against a real server: the signed event pops the caller's card.

The server is a `python -m uvicorn app.main:app` process on a migrated, seeded SQLite
file; an agent's widget is stood in for by a WebSocket client on `/v1/stream`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner
from websockets.sync.client import ClientConnection, connect

from app.cli import SECRET_ENV, cli
from app.db import create_engine, create_sessionmaker, session_scope
from app.demo import (
    ADA_NUMBER,
    DEMO_API_KEY,
    DEMO_GENERIC_SECRET,
    find_demo_tenant,
    seed_demo,
)
from app.migrate import upgrade
from app.models import Agent, ProviderConfig
from app.settings import get_settings
from tests.support.live_server import live_server
from tests.support.servers import free_port

POP_DEADLINE = 2.0
CALL_ID = re.compile(r"^Call id: (\S+)$", re.MULTILINE)

runner = CliRunner()


def _run(work: Any, url: str) -> Any:
    """Run `work(session)` in one committed transaction on the database at `url`."""

    async def go() -> Any:
        engine = create_engine(url)
        scope = asynccontextmanager(session_scope)
        try:
            async with scope(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _seeded_database(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    _run(seed_demo, url)
    return url


async def _agent_id(session: Any, extension: str) -> int:
    agent_id = await session.scalar(select(Agent.id).where(Agent.extension == extension))
    assert agent_id is not None
    return int(agent_id)


async def _generic_secret(session: Any) -> str | None:
    secret = await session.scalar(
        select(ProviderConfig.secret).where(ProviderConfig.provider == "generic")
    )
    return None if secret is None else str(secret)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(database URL, server base URL, a stream token for Sanne at extension 201)."""
    url = _seeded_database(tmp_path_factory.mktemp("simulate") / "demo.db")
    sanne = _run(lambda s: _agent_id(s, "201"), url)
    with live_server(url) as base_url:
        answer = httpx.post(
            f"{base_url}/v1/agents/{sanne}/tokens",
            headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
            json={"label": "test_simulate_call"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        yield url, base_url, answer.json()["token"]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No simulator secret in the environment; settings re-read for each test."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _use_database(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("STAMGAST_DATABASE_URL", url)
    get_settings.cache_clear()


def _next_pop(ws: ClientConnection, call_id: str, kind: str, deadline: float) -> dict[str, Any]:
    """The first pop of `kind` for `call_id` before `deadline` (monotonic), skipping others."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind} pop for {call_id} within {POP_DEADLINE} s")
        try:
            frame = ws.recv(timeout=left)
        except TimeoutError:
            continue
        message = json.loads(frame)
        pop = message.get("pop")
        if pop and pop["type"] == kind and pop["call"]["provider_call_id"] == call_id:
            return dict(pop)


@contextmanager
def _stream(base_url: str, token: str) -> Iterator[ClientConnection]:
    """An agent's stream, past its hello."""
    with connect(f"ws{base_url[4:]}/v1/stream?token={token}", open_timeout=5) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello", hello
        yield ws


def test_a_simulated_ringing_call_pops_adas_card_for_sanne(
    demo_server: tuple[str, str, str], cli_env: pytest.MonkeyPatch
) -> None:
    url, base_url, token = demo_server
    _use_database(cli_env, url)  # the secret comes from the seeded provider config
    with _stream(base_url, token) as ws:
        started = time.monotonic()
        result = runner.invoke(cli, ["simulate-call", ADA_NUMBER, "--server", base_url])
        assert result.exit_code == 0, result.output
        assert '"ok":true' in result.stdout
        found = CALL_ID.search(result.stdout)
        assert found is not None, result.stdout
        call_id = found.group(1)
        pop = _next_pop(ws, call_id, "call.ringing", started + POP_DEADLINE)
        assert pop["card"]["display_name"] == "Ada de Vries"
        assert pop["call"]["provider"] == "generic"

        # The follow-up the CLI suggests: the same call, answered by Sanne.
        started = time.monotonic()
        answered = runner.invoke(
            cli,
            ["simulate-call", ADA_NUMBER, "--server", base_url, "--event", "answered",
             "--call-id", call_id, "--answered-by", "201"],
        )  # fmt: skip
        assert answered.exit_code == 0, answered.output
        assert f"Call id: {call_id}" in answered.stdout
        pop = _next_pop(ws, call_id, "call.answered", started + POP_DEADLINE)
        assert pop["call"]["answered_by_name"] == "Sanne Visser"


def test_an_explicit_secret_wins_and_a_wrong_one_prints_the_servers_message(
    demo_server: tuple[str, str, str], cli_env: pytest.MonkeyPatch
) -> None:
    _url, base_url, _token = demo_server
    _use_database(cli_env, "sqlite+aiosqlite:///nonexistent-on-purpose.db")
    good = runner.invoke(
        cli, ["simulate-call", ADA_NUMBER, "--server", base_url, "--secret", DEMO_GENERIC_SECRET]
    )
    assert good.exit_code == 0, good.output
    bad = runner.invoke(
        cli, ["simulate-call", ADA_NUMBER, "--server", base_url, "--secret", "wrong"]
    )
    assert bad.exit_code == 1
    assert "X-Stamgast-Signature does not match" in bad.stderr
    assert "Call id" not in bad.stdout


def test_the_environment_secret_comes_before_the_database(
    demo_server: tuple[str, str, str], cli_env: pytest.MonkeyPatch
) -> None:
    url, base_url, _token = demo_server
    _use_database(cli_env, url)
    cli_env.setenv(SECRET_ENV, "not-the-demo-secret")
    result = runner.invoke(cli, ["simulate-call", ADA_NUMBER, "--server", base_url])
    assert result.exit_code == 1
    assert "does not match" in result.stderr


def test_an_unknown_tenant_prints_the_servers_404(
    demo_server: tuple[str, str, str], cli_env: pytest.MonkeyPatch
) -> None:
    _url, base_url, _token = demo_server
    result = runner.invoke(
        cli,
        ["simulate-call", ADA_NUMBER, "--server", base_url, "--tenant", "nobody",
         "--secret", "x"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "not connected for tenant 'nobody'" in result.stderr


def test_an_unreachable_server_asks_whether_make_run_runs(cli_env: pytest.MonkeyPatch) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(cli, ["simulate-call", ADA_NUMBER, "--server", server, "--secret", "x"])
    assert result.exit_code == 1
    assert "is `make run` running?" in result.stderr
    assert server in result.stderr


def test_without_secret_or_database_it_says_what_to_pass(
    tmp_path: Path, cli_env: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.db"
    _use_database(cli_env, f"sqlite+aiosqlite:///{missing}")
    result = runner.invoke(cli, ["simulate-call", ADA_NUMBER])
    assert result.exit_code == 1
    assert "--secret" in result.stderr and SECRET_ENV in result.stderr
    assert not missing.exists()  # no empty database left behind


def test_a_tenant_without_the_provider_says_how_to_connect_it(
    tmp_path: Path, cli_env: pytest.MonkeyPatch
) -> None:
    url = _seeded_database(tmp_path / "demo.db")
    _use_database(cli_env, url)
    result = runner.invoke(cli, ["simulate-call", ADA_NUMBER, "--tenant", "other"])
    assert result.exit_code == 1
    assert "PUT /v1/providers/generic" in result.stderr


def test_the_demo_seed_connects_the_generic_provider(tmp_path: Path) -> None:
    url = _seeded_database(tmp_path / "demo.db")
    assert _run(_generic_secret, url) == DEMO_GENERIC_SECRET


def test_an_older_demo_database_gets_the_provider_and_keeps_a_changed_secret(
    tmp_path: Path, cli_env: pytest.MonkeyPatch
) -> None:
    url = _seeded_database(tmp_path / "demo.db")
    _run(lambda s: s.execute(delete(ProviderConfig)), url)  # as seeded before it existed
    _use_database(cli_env, url)

    result = runner.invoke(cli, ["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Connected the demo's 'generic' phone system" in result.stdout
    assert _run(_generic_secret, url) == DEMO_GENERIC_SECRET

    _run(lambda s: s.execute(update(ProviderConfig).values(secret="rotated")), url)
    again = runner.invoke(cli, ["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "Connected the demo's" not in again.stdout
    assert _run(_generic_secret, url) == "rotated"
    assert _run(find_demo_tenant, url) is not None
