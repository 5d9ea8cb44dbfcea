"""The bench tenant: migrate a database (SQLite or PostgreSQL) and seed what the benchmarks drive.

One tenant, `contacts` callers with a mobile number each, `agents` agents spread round-robin
over `teams` teams, each team answering its own line, and the `generic` provider's secret.
Only SQLAlchemy Core inserts, so one seeding serves both dialects.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _common import (  # puts app on sys.path
    GENERIC_SECRET,
    TENANT_SLUG,
    Setup,
    agent_extension,
    contact_number,
)
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import create_engine, create_sessionmaker
from app.migrate import upgrade
from app.models import (
    Agent,
    Contact,
    ContactNumber,
    Line,
    ProviderConfig,
    Team,
    Tenant,
    agent_teams,
)
from app.phone import normalise
from app.screen_pop.tokens import issue_agent_token

SEED_CHUNK = 5000  # bounded statement sizes


def line_number(team: int) -> str:
    """A distinct valid Dutch fixed number for each team below 68,900 (team 0: +31333031100)."""
    return f"+313330{31100 + team:05d}"


def seed_database(url: str, *, contacts: int, agents: int, teams: int = 1) -> Setup:
    """Migrate the empty database at `url` and seed the bench tenant (blocking; not in a loop)."""
    if not 1 <= teams <= agents:
        raise ValueError(f"need 1 <= teams <= agents, got {teams} teams for {agents} agents")
    started = time.perf_counter()
    upgrade(url)  # Alembic runs an event loop of its own
    numbers, lines, tokens = asyncio.run(_seed(url, contacts=contacts, agents=agents, teams=teams))
    return Setup(
        database_url=url,
        numbers=numbers,
        tokens=tokens,
        seconds=time.perf_counter() - started,
        lines=lines,
        agent_team=[i % teams for i in range(agents)],
    )


def _check_numbers(numbers: list[str]) -> None:
    # A number the app stores differently from what the webhook sends would never match.
    for number in numbers:
        if normalise(number, "NL").key != number:
            raise RuntimeError(f"bench number {number} does not normalise to itself")


async def _seed(
    url: str, *, contacts: int, agents: int, teams: int
) -> tuple[list[str], list[str], list[str]]:
    numbers = [contact_number(i) for i in range(contacts)]
    lines = [line_number(t) for t in range(teams)]
    _check_numbers(numbers[:10] + numbers[-10:] + lines)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tid = (
                await conn.execute(
                    insert(Tenant)
                    .values(slug=TENANT_SLUG, name="Bench", default_region="NL")
                    .returning(Tenant.id)
                )
            ).scalar_one()
            team_ids = await _insert_ids(
                conn, Team, [{"tenant_id": tid, "name": f"Team {t:03d}"} for t in range(teams)]
            )
            await conn.execute(
                insert(Line),
                [
                    {"tenant_id": tid, "number_e164": n, "label": f"Line {t:03d}", "team_id": team}
                    for t, (n, team) in enumerate(zip(lines, team_ids, strict=True))
                ],
            )
            await conn.execute(
                insert(ProviderConfig).values(
                    tenant_id=tid, provider="generic", secret=GENERIC_SECRET
                )
            )
            agent_rows = [
                {"tenant_id": tid, "name": f"Agent {i:03d}", "extension": agent_extension(i)}
                for i in range(agents)
            ]
            agent_ids = await _insert_ids(conn, Agent, agent_rows)
            await conn.execute(
                insert(agent_teams),
                [{"agent_id": a, "team_id": team_ids[i % teams]} for i, a in enumerate(agent_ids)],
            )
            for start in range(0, contacts, SEED_CHUNK):
                await _insert_contacts(conn, tid, start, numbers[start : start + SEED_CHUNK])
        async with create_sessionmaker(engine)() as session:
            tokens = []
            for agent_id in agent_ids:
                _row, token = await issue_agent_token(
                    session, tenant_id=tid, agent_id=agent_id, label="bench"
                )
                tokens.append(token)
            await session.commit()
        if engine.dialect.name == "postgresql":
            # Autovacuum would analyse the fresh tables a minute or so later; the benchmark
            # starts sooner, and plans made without statistics are not what it measures.
            async with engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return numbers, lines, tokens


async def _insert_ids(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many rows; their ids in the order of `rows`."""
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list((await conn.execute(statement, rows)).scalars())


async def _insert_contacts(
    conn: AsyncConnection, tenant_id: int, start: int, chunk: list[str]
) -> None:
    contact_rows = [
        {
            "tenant_id": tenant_id,
            "display_name": f"Caller {start + i:06d}",
            "form_of_address": f"meneer Caller {start + i:06d}",
            "language": "nl",
            "external_id": f"BENCH-{start + i}",
        }
        for i in range(len(chunk))
    ]
    contact_ids = await _insert_ids(conn, Contact, contact_rows)
    await conn.execute(
        insert(ContactNumber),
        [
            {
                "tenant_id": tenant_id,
                "contact_id": cid,
                "e164": number,
                "raw": number,
                "kind": "mobile",
                "label": "mobiel",
            }
            for cid, number in zip(contact_ids, chunk, strict=True)
        ],
    )
