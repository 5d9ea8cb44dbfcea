"""A tenant with every kind of caller the card tells apart, for the hot path's tests:
a known caller with history, callbacks, cases and notices; a shared number; an unknown
caller with a callback for the bare number; and the tenant's team, lines and agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import FastAPI

from app.db import session_scope
from app.models import (
    Agent,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Notice,
    NumberChoice,
    ServiceProfile,
    Team,
)

ADA = "+31612345678"
SHARED = "+31201112233"
STRANGER = "+31687654321"
LINE = "+31331234567"
OTHER_LINE = "+31201234567"


@dataclass(frozen=True)
class Callers:
    """Ids of what `seed` made."""

    ada: int
    sanne: int
    youssef: int
    piet: int
    line: int


async def seed(app: FastAPI, tenant_id: int, now: datetime) -> Callers:
    """Everything a card can show, some of it just out of reach (closed, expired, elsewhere)."""
    async for session in session_scope(app.state.sessionmaker):
        team = Team(tenant_id=tenant_id, name="Balie")
        session.add(team)
        await session.flush()
        line = Line(tenant_id=tenant_id, number_e164=LINE, label="Amersfoort", team_id=team.id)
        other = Line(tenant_id=tenant_id, number_e164=OTHER_LINE, label="Utrecht")
        sanne = Agent(tenant_id=tenant_id, name="Sanne Visser", extension="201", teams=[team])
        youssef = Agent(
            tenant_id=tenant_id, name="Youssef El Amrani", extension="202", teams=[team]
        )
        gone = Agent(tenant_id=tenant_id, name="Oud", extension="203", active=False, teams=[team])
        piet = Agent(tenant_id=tenant_id, name="Piet Jansen", sip_uri="sip:piet@pbx.example")
        ada = Contact(
            tenant_id=tenant_id,
            display_name="Ada de Vries",
            form_of_address="mevrouw De Vries",
            language="nl",
            organisation="Zorg BV",
            household="De Vries",
            flags=["attention"],
            tags=["zorg"],
            notes="Slechthorend: spreek langzaam.",
        )
        bob = Contact(tenant_id=tenant_id, display_name="Bob Bakker", household="Bakker")
        carla = Contact(tenant_id=tenant_id, display_name="Carla Bakker", household="Bakker")
        session.add_all([line, other, sanne, youssef, gone, piet, ada, bob, carla])
        await session.flush()
        session.add_all(
            [
                ContactNumber(tenant_id=tenant_id, contact_id=ada.id, e164=ADA, raw="0612345678"),
                ContactNumber(tenant_id=tenant_id, contact_id=bob.id, e164=SHARED, raw=SHARED),
                ContactNumber(tenant_id=tenant_id, contact_id=carla.id, e164=SHARED, raw=SHARED),
                NumberChoice(tenant_id=tenant_id, e164=SHARED, contact_id=carla.id),
                ServiceProfile(
                    contact_id=ada.id,
                    tenant_id=tenant_id,
                    preferred_times="ochtend",
                    preferred_channel="phone",
                    language="nl",
                    plain_language=True,
                    interpreter=None,
                    likes=["koffie"],
                    dislikes=["wachten"],
                    extra={"parking": "achter", "floor": 2},
                ),
                *[
                    Interaction(
                        tenant_id=tenant_id,
                        contact_id=ada.id,
                        occurred_at=now - timedelta(days=day, microseconds=day * 7),
                        summary=f"Gesprek {day}",
                        outcome="answered",
                        agent_id=sanne.id if day % 2 else None,
                    )
                    for day in range(1, 8)
                ],
                Interaction(
                    tenant_id=tenant_id,
                    contact_id=bob.id,
                    occurred_at=now - timedelta(days=3),
                    summary="Bob belde",
                    channel="email",
                ),
                CallbackRequest(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    number_e164=ADA,
                    reason="Uitslag",
                    requested_at=now - timedelta(days=2),
                    due_by=now - timedelta(hours=1),
                    attempts=2,
                ),
                CallbackRequest(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    reason="Afspraak",
                    requested_at=now - timedelta(days=1),
                    due_by=now + timedelta(hours=3),
                ),
                CallbackRequest(
                    tenant_id=tenant_id,
                    number_e164=ADA,
                    reason="Ooit",
                    requested_at=now - timedelta(days=1),
                ),
                CallbackRequest(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    reason="Klaar",
                    status="done",
                    requested_at=now - timedelta(days=5),
                ),
                CallbackRequest(
                    tenant_id=tenant_id,
                    number_e164=STRANGER,
                    reason="Onbekende beller",
                    requested_at=now - timedelta(hours=5),
                ),
                Case(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    reference="ZD-1",
                    status="waiting",
                    position=4,
                    next_step="Intake",
                    updated_at=now - timedelta(days=1),
                ),
                Case(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    reference="ZD-2",
                    kind="application",
                    updated_at=now - timedelta(hours=2),
                ),
                Case(
                    tenant_id=tenant_id,
                    contact_id=ada.id,
                    reference="ZD-0",
                    status="closed",
                    updated_at=now,
                ),
                *[
                    Notice(
                        tenant_id=tenant_id,
                        title=title,
                        body=f"{title}.",
                        severity=severity,
                        line_id=line_id,
                        tag=tag,
                        starts_at=now - timedelta(days=starts),
                        ends_at=None if ends is None else now + timedelta(days=ends),
                        # One sensitive notice on Ada's card: role `agent` must not get it.
                        sensitive=title == "Zorg",
                    )
                    for title, severity, line_id, tag, starts, ends in [
                        ("Iedereen", "info", None, None, 3, None),
                        ("Amersfoort", "warning", line.id, None, 2, 5),
                        ("Utrecht", "info", other.id, None, 2, None),
                        ("Zorg", "info", None, "zorg", 1, None),
                        ("Ander label", "info", None, "wonen", 1, None),
                        ("Voorbij", "info", None, None, 9, -1),
                        ("Straks", "info", None, None, -1, None),
                    ]
                ],
            ]
        )
        made = Callers(ada=ada.id, sanne=sanne.id, youssef=youssef.id, piet=piet.id, line=line.id)
    return made
