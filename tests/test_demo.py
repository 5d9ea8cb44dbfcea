"""The demo tenant: what the README and `stamgast serve --demo` promise is really there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.keys import KeyVerifier, Scope
from app.cases.schemas import CASE_STATUSES
from app.db import create_engine, create_sessionmaker, session_scope
from app.demo import (
    ADA_CASE_REFERENCE,
    ADA_NUMBER,
    DEMO_API_KEY,
    DemoSeed,
    find_demo_tenant,
    seed_demo,
)
from app.main import create_app
from app.migrate import upgrade
from app.models import (
    Agent,
    Call,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Notice,
    ServiceProfile,
    utcnow,
)
from app.settings import Settings

# The lookup judges "overdue" and "active" by the clock, so the seed uses it too.
NOW = utcnow()


Demo = tuple[async_sessionmaker[AsyncSession], DemoSeed, str]


@asynccontextmanager
async def _seeded(url: str) -> AsyncIterator[Demo]:
    """Migrate a new database at `url`, seed the demo and hand out its session factory."""
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    factory = create_sessionmaker(engine)
    try:
        async for session in session_scope(factory):
            seed = await seed_demo(session, now=NOW)
        yield factory, seed, url
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    """A migrated SQLite file with the demo seeded once."""
    async with _seeded(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}") as d:
        yield d


@pytest.fixture
async def session(
    demo: Demo,
) -> AsyncIterator[AsyncSession]:
    async with demo[0]() as s:
        yield s


@pytest.fixture
def seed(demo: Demo) -> DemoSeed:
    return demo[1]


async def _ada(session: AsyncSession, tenant_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact)
        .join(ContactNumber, ContactNumber.contact_id == Contact.id)
        .where(ContactNumber.tenant_id == tenant_id, ContactNumber.e164 == ADA_NUMBER)
    )
    assert contact is not None
    return contact


async def test_about_fifty_contacts_with_languages_and_forms_of_address(
    session: AsyncSession, seed: DemoSeed
) -> None:
    contacts = (
        await session.scalars(select(Contact).where(Contact.tenant_id == seed.tenant_id))
    ).all()
    assert 45 <= len(contacts) <= 60
    assert seed.counts["contacts"] == len(contacts)
    languages = {c.language for c in contacts}
    assert {"nl", "nl-BE", "en", "tr", "ar"} <= languages
    addresses = {c.form_of_address for c in contacts}
    assert "mevrouw De Vries" in addresses
    assert any(a and a.startswith("meneer ") for a in addresses)
    assert "Anouk" in addresses  # prefers her first name
    numbers = (
        await session.scalars(
            select(ContactNumber.e164).where(ContactNumber.tenant_id == seed.tenant_id)
        )
    ).all()
    assert all(n.startswith("+") for n in numbers)
    assert any(n.startswith("+316") for n in numbers)
    assert any(n.startswith("+3133") for n in numbers)
    assert any(n.startswith("+32") for n in numbers)


async def test_a_household_shares_one_landline(session: AsyncSession, seed: DemoSeed) -> None:
    shared = (
        await session.execute(
            select(ContactNumber.e164, func.count())
            .where(ContactNumber.tenant_id == seed.tenant_id)
            .group_by(ContactNumber.e164)
            .having(func.count() >= 3)
        )
    ).all()
    assert len(shared) == 1
    e164, _count = shared[0]
    assert e164.startswith("+3133")
    households = (
        await session.scalars(
            select(Contact.household)
            .join(ContactNumber, ContactNumber.contact_id == Contact.id)
            .where(ContactNumber.tenant_id == seed.tenant_id, ContactNumber.e164 == e164)
        )
    ).all()
    assert set(households) == {"Familie Bakker"}


async def test_ada_has_an_overdue_callback_an_open_case_and_a_profile(
    session: AsyncSession, seed: DemoSeed
) -> None:
    ada = await _ada(session, seed.tenant_id)
    assert ada.display_name == "Ada de Vries"
    assert ada.flags == ["attention"]

    callback = await session.scalar(
        select(CallbackRequest).where(
            CallbackRequest.contact_id == ada.id, CallbackRequest.status == "open"
        )
    )
    assert callback is not None
    assert callback.due_by is not None and callback.due_by < NOW
    assert (NOW - callback.due_by).days == 1

    case = await session.scalar(select(Case).where(Case.reference == ADA_CASE_REFERENCE))
    assert case is not None and case.contact_id == ada.id
    assert (case.kind, case.status) == ("referral", "waiting")
    assert case.next_step == "Intake gepland na ontvangst verwijzing"

    profile = await session.get(ServiceProfile, ada.id)
    assert profile is not None
    assert profile.plain_language and profile.extra_explanation
    assert profile.preferred_times and "ochtend" in profile.preferred_times
    assert any("wacht" in d for d in profile.dislikes)
    assert any("dezelfde medewerker" in like for like in profile.likes)

    history = (
        await session.scalars(select(Interaction).where(Interaction.contact_id == ada.id))
    ).all()
    assert len(history) >= 2


async def test_lines_team_agents_and_notices(session: AsyncSession, seed: DemoSeed) -> None:
    lines = (await session.scalars(select(Line).where(Line.tenant_id == seed.tenant_id))).all()
    assert {line.location for line in lines} == {"Locatie Amersfoort", "Locatie Utrecht"}
    assert len({line.team_id for line in lines}) == 1
    agents = (await session.scalars(select(Agent).where(Agent.tenant_id == seed.tenant_id))).all()
    # Sanne (the demo widget's agent) supervises: the demo shows whole cards and her token
    # opens the dashboard; Youssef is the front desk.
    assert {(a.name, a.extension, a.role) for a in agents} == {
        ("Sanne Visser", "201", "supervisor"),
        ("Youssef El Amrani", "202", "agent"),
    }
    notices = (
        await session.scalars(select(Notice).where(Notice.tenant_id == seed.tenant_id))
    ).all()
    amersfoort = next(line for line in lines if line.location == "Locatie Amersfoort")
    roadworks = [n for n in notices if n.line_id == amersfoort.id]
    assert roadworks and "Stationsweg" in roadworks[0].title
    assert roadworks[0].starts_at <= NOW < (roadworks[0].ends_at or NOW)
    assert any(n.line_id is None for n in notices)


async def test_interactions_for_about_half_the_contacts(
    session: AsyncSession, seed: DemoSeed
) -> None:
    per_contact = (
        await session.execute(
            select(Interaction.contact_id, func.count())
            .where(Interaction.tenant_id == seed.tenant_id, Interaction.call_id.is_(None))
            .group_by(Interaction.contact_id)
        )
    ).all()
    assert seed.counts["contacts"] // 3 <= len(per_contact) <= seed.counts["contacts"] * 2 // 3
    assert all(2 <= count <= 8 for _contact, count in per_contact)


async def test_the_fixed_demo_key_verifies_as_admin(session: AsyncSession, seed: DemoSeed) -> None:
    assert seed.api_key == DEMO_API_KEY
    principal = await KeyVerifier(0).verify(session, DEMO_API_KEY)
    assert principal is not None
    assert principal.tenant_id == seed.tenant_id
    assert principal.allows(Scope.ADMIN)
    assert await find_demo_tenant(session) == seed.tenant_id


async def test_the_readme_lookup_shows_ada(
    demo: Demo,
) -> None:
    application = create_app(Settings(database_url=demo[2]))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get(
                "/v1/lookup",
                params={"number": "+31612345678"},
                headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
            )
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["display_name"] == "Ada de Vries"
    assert card["masked"] == [] and card["notes"]  # the demo key is an admin: nothing hidden
    assert any(cb["overdue"] for cb in card["callbacks"])
    assert any(case["reference"] == ADA_CASE_REFERENCE for case in card["cases"])


async def test_seeding_is_deterministic(tmp_path: Path, demo: Demo) -> None:
    async def numbers(factory: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
        async with factory() as s:
            rows = await s.execute(
                select(Contact.display_name, ContactNumber.raw, ContactNumber.e164)
                .join(ContactNumber, ContactNumber.contact_id == Contact.id)
                .order_by(ContactNumber.id)
            )
            return [(name, raw, e164) for name, raw, e164 in rows]

    async with _seeded(f"sqlite+aiosqlite:///{tmp_path / 'again.db'}") as other:
        assert await numbers(other[0]) == await numbers(demo[0])


async def test_demo_agent_token_opens_sannes_widget(demo: Demo) -> None:
    """The README's widget link carries this token: it must speak for Sanne, once."""
    from app.demo_widget import DEMO_AGENT_TOKEN, ensure_demo_agent_token
    from app.screen_pop.tokens import verify_agent_token

    factory, seed, url = demo
    added: list[bool] = []
    for _ in range(2):
        async for s in session_scope(factory):
            added.append(await ensure_demo_agent_token(s, seed.tenant_id))
    assert added == [True, False]
    async with factory() as s:
        identity = await verify_agent_token(s, DEMO_AGENT_TOKEN)
    assert identity is not None
    assert (identity.agent_name, identity.agent_extension) == ("Sanne Visser", "201")
    # The dashboard link `stamgast serve --demo` prints works with the same token.
    application = create_app(Settings(database_url=url))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            bearer = {"Authorization": f"Bearer {DEMO_AGENT_TOKEN}"}
            figures = await c.get("/v1/stats/dashboard", headers=bearer)
            page = await c.get("/dashboard", params={"token": DEMO_AGENT_TOKEN})
    assert figures.status_code == 200, figures.text
    assert page.status_code == 200 and "<canvas" in page.text


async def test_the_demo_cases_read_back_through_the_api(demo: Demo) -> None:
    """Seeded cases use the API's own vocabulary: `GET /v1/cases` once answered 500 here."""
    application = create_app(Settings(database_url=demo[2]))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
        ) as c:
            listed = await c.get("/v1/cases")
            reviewed = await c.get("/v1/cases", params={"status": "in_review"})
    assert listed.status_code == 200, listed.text
    assert {(case["kind"], case["status"]) for case in listed.json()} == {
        ("referral", "waiting"),
        ("waiting_list", "waiting"),
        ("application", "in_review"),
    }
    assert {case["status"] for case in listed.json()} <= set(CASE_STATUSES)
    assert [case["reference"] for case in reviewed.json()] == ["AV-2026-0019"]


async def test_four_weeks_of_calls_fill_the_dashboard_but_not_the_readmes_cards(
    demo: Demo,
) -> None:
    """A supervisor opening the demo's /dashboard sees a month of work; Ada's card (the
    README's example) is as the README describes it."""
    factory, seed, url = demo
    async with factory() as s:
        calls = (await s.scalars(select(Call).where(Call.tenant_id == seed.tenant_id))).all()
        ada = await _ada(s, seed.tenant_id)
    assert len(calls) == seed.counts["calls"] >= 100
    assert {c.match for c in calls} == {"known", "ambiguous", "unknown", "withheld"}
    assert all(c.contact_id != ada.id for c in calls)
    application = create_app(Settings(database_url=url))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            bearer = {"Authorization": f"Bearer {DEMO_API_KEY}"}
            board = (await c.get("/v1/stats/dashboard", headers=bearer)).json()
            fcr = (await c.get("/v1/stats/fcr", headers=bearer)).json()
    assert sum(h["calls"] for h in board["hours"]) > 50, board
    assert sum(w["answered"] for w in fcr["weeks"]) > 50
    assert any(w["resolved_first_time"] for w in fcr["weeks"])
