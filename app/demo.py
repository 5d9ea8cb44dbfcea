"""Demo data: one care organisation with lines, agents, callers and their history.

Everything is generated from a fixed seed, so every fresh demo looks the same; only the
timestamps follow the clock (Ada's callback is always due yesterday).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_calls, demo_data
from app.auth.keys import Scope, hash_key, key_role
from app.cases.schemas import CaseCreate
from app.demo_data import Person
from app.models import (
    Agent,
    ApiKey,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Notice,
    ProviderConfig,
    ServiceProfile,
    Team,
    Tenant,
    utcnow,
)
from app.phone import normalise

DEMO_SLUG = "demo"
REGION = "NL"
# Fixed and documented so the README's curl works; never use it outside a demo.
DEMO_KEY_PREFIX = "demo0000"
DEMO_API_KEY = f"sg_{DEMO_KEY_PREFIX}_stamgast-demo-key-do-not-use-in-production"
# The demo's `generic` phone system signs with this, so `stamgast simulate-call` works at once.
DEMO_GENERIC_PROVIDER = "generic"
DEMO_GENERIC_SECRET = "stamgast-demo-generic-secret"
ADA_NUMBER = demo_data.ADA_NUMBER
ADA_CASE_REFERENCE = demo_data.ADA_CASE_REFERENCE


@dataclass(frozen=True, slots=True)
class DemoSeed:
    """What seeding made: the demo tenant, its admin key and how many rows of each kind."""

    tenant_id: int
    api_key: str
    counts: dict[str, int] = field(default_factory=dict)


async def find_demo_tenant(session: AsyncSession) -> int | None:
    """The id of the demo tenant, if it has been seeded."""
    return await session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))


async def ensure_demo_provider(session: AsyncSession, tenant_id: int) -> bool:
    """Connect the demo's `generic` provider unless it is; True when it was added.

    Databases seeded before the provider was part of the demo get it here. A secret
    someone set since (PUT /v1/providers/generic) is left alone.
    """
    existing = await session.scalar(
        select(ProviderConfig.id).where(
            ProviderConfig.tenant_id == tenant_id,
            ProviderConfig.provider == DEMO_GENERIC_PROVIDER,
        )
    )
    if existing is not None:
        return False
    session.add(_demo_provider(tenant_id))
    await session.flush()
    return True


def _demo_provider(tenant_id: int) -> ProviderConfig:
    return ProviderConfig(
        tenant_id=tenant_id, provider=DEMO_GENERIC_PROVIDER, secret=DEMO_GENERIC_SECRET
    )


async def has_tenants(session: AsyncSession) -> bool:
    """True when the database holds any tenant at all."""
    return bool(await session.scalar(select(func.count()).select_from(Tenant)))


def form_of_address(person: Person) -> str:
    """How an agent greets this person: "mevrouw Van den Berg", "Mr Wilson" or "Anouk"."""
    if person.first_name_basis:
        return person.first
    # Without a first name before it, the tussenvoegsel starts with a capital.
    surname = f"{person.prefix[:1].upper()}{person.prefix[1:]} {person.last}".strip()
    if person.language == "en":
        return f"{'Ms' if person.gender == 'f' else 'Mr'} {person.last}"
    return f"{'mevrouw' if person.gender == 'f' else 'meneer'} {surname}"


def display_name(person: Person) -> str:
    """The full name as written on the card."""
    return " ".join(part for part in (person.first, person.prefix, person.last) if part)


class _Numbers:
    """Invents unique, valid numbers in the formats callers really give them."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self._rng = rng
        self._taken = taken

    def _digits(self, count: int) -> str:
        return "".join(str(self._rng.randint(0, 9)) for _ in range(count))

    def _candidate(self, kind: str) -> str:
        rng = self._rng
        if kind == "mobile":
            digits = f"6{rng.randint(1, 5)}{self._digits(7)}"
            return rng.choice(
                [
                    f"0{digits[:1]}-{digits[1:]}",
                    f"0{digits[:1]} {digits[1:5]} {digits[5:]}",
                    f"+31 6 {digits[1:]}",
                    f"0{digits}",
                ]
            )
        if kind in ("amersfoort", "utrecht"):
            area = "33" if kind == "amersfoort" else "30"
            digits = f"{rng.randint(2, 7)}{self._digits(6)}"
            return rng.choice(
                [
                    f"0{area}-{digits}",
                    f"0{area} {digits[:3]} {digits[3:]}",
                    f"+31 {area} {digits[:3]} {digits[3:]}",
                ]
            )
        digits = f"4{rng.choice('789')}{self._digits(7)}"  # a Belgian mobile
        pairs = f"{digits[3:5]} {digits[5:7]} {digits[7:]}"
        return rng.choice([f"+32 {digits[:3]} {pairs}", f"0032 {digits[:3]} {pairs}"])

    def claim(self, raw: str) -> str:
        """The normalised key of `raw`, which must be valid and not yet used."""
        key = normalise(raw, region=REGION).key
        if key is None or key in self._taken:
            raise ValueError(f"demo number {raw!r} is invalid or used twice")
        self._taken.add(key)
        return key

    def new(self, kind: str) -> tuple[str, str]:
        """A fresh (raw, key) pair of the given kind."""
        for _attempt in range(1000):
            raw = self._candidate(kind)
            key = normalise(raw, region=REGION).key
            if key is not None and key not in self._taken:
                self._taken.add(key)
                return raw, key
        raise RuntimeError(f"no valid {kind} number found")  # the number plan changed


_LABELS = {"mobile": "mobiel", "landline": "thuis", "work": "algemeen"}


def _number(tid: int, raw: str, key: str, kind: str) -> ContactNumber:
    return ContactNumber(tenant_id=tid, e164=key, raw=raw, kind=kind, label=_LABELS[kind])


def _contact(tenant_id: int, person: Person, index: int, **fields: Any) -> Contact:
    return Contact(
        tenant_id=tenant_id,
        display_name=display_name(person),
        form_of_address=form_of_address(person),
        language=person.language,
        external_id=f"CRM-{10000 + index}",
        references={"crm": f"CRM-{10000 + index}"},
        **fields,
    )


def _at_office_hours(rng: random.Random, now: datetime, days_ago: int) -> datetime:
    day = now - timedelta(days=days_ago)
    # 7-15 h UTC is 8/9-16/17 h in Amsterdam: when the phones are staffed.
    return day.replace(
        hour=rng.randint(7, 15), minute=rng.randrange(0, 60, 5), second=0, microsecond=0
    )


async def seed_demo(session: AsyncSession, *, now: datetime | None = None) -> DemoSeed:
    """Create the demo tenant and everything in it (flushes; the caller's scope commits)."""
    now = now or utcnow()
    rng = random.Random(42)
    numbers = _Numbers(rng, taken=set())
    tenant = Tenant(slug=DEMO_SLUG, name=demo_data.TENANT_NAME, default_region=REGION)
    session.add(tenant)
    await session.flush()
    tid = tenant.id
    key = ApiKey(
        tenant_id=tid,
        name="demo-admin",
        prefix=DEMO_KEY_PREFIX,
        key_hash=hash_key(DEMO_API_KEY),
        scopes=[Scope.ADMIN.value],
        role=key_role([Scope.ADMIN], None).value,
    )
    team = Team(tenant_id=tid, name=demo_data.TEAM)
    session.add_all([key, team, _demo_provider(tid)])
    await session.flush()
    lines = {
        location: Line(
            tenant_id=tid,
            number_e164=numbers.claim(raw),
            label=label,
            location=location,
            team_id=team.id,
        )
        for raw, label, location in demo_data.LINES
    }
    agents = {
        ext: Agent(
            tenant_id=tid,
            name=name,
            email=f"{mailbox}@{demo_data.MAIL_DOMAIN}",
            extension=ext,
            sip_uri=f"sip:{ext}@pbx.{demo_data.MAIL_DOMAIN}",
            teams=[team],
            role=role,
        )
        for name, ext, mailbox, role in demo_data.AGENTS
    }
    contacts = _contacts(rng, tid, numbers)
    session.add_all([*lines.values(), *agents.values(), *contacts])
    await session.flush()

    by_name = {c.display_name: c for c in contacts}
    profiles = [
        ServiceProfile(contact_id=by_name[name].id, tenant_id=tid, **fields)
        for name, fields in [
            (demo_data.ADA_NAME, demo_data.ADA_PROFILE),
            *demo_data.PROFILES.items(),
        ]
    ]
    interactions = _interactions(rng, now, tid, contacts, agents)
    callbacks = [
        CallbackRequest(
            tenant_id=tid,
            contact_id=by_name[cb["contact"]].id if cb["contact"] else None,
            number_e164=(
                by_name[cb["contact"]].numbers[0].e164
                if cb["contact"]
                else numbers.new("mobile")[1]
            ),
            reason=cb["reason"],
            requested_at=now - timedelta(hours=cb["requested_hours_ago"]),
            due_by=now + timedelta(hours=cb["due_in_hours"]),
            status=cb["status"],
            attempts=cb.get("attempts", 0),
            assignee_agent_id=agents[cb["assignee"]].id if cb["assignee"] else None,
            closed_at=now + timedelta(hours=cb["due_in_hours"]) if cb["status"] == "done" else None,
        )
        for cb in demo_data.CALLBACKS
    ]
    cases = [_case(tid, by_name[case["contact"]].id, case, now) for case in demo_data.CASES]
    notices = [
        Notice(
            tenant_id=tid,
            line_id=lines[n["location"]].id if n["location"] else None,
            severity=n["severity"],
            title=n["title"],
            body=n["body"],
            starts_at=now - timedelta(days=n["started_days_ago"]),
            ends_at=now + timedelta(days=n["ends_in_days"]),
        )
        for n in demo_data.NOTICES
    ]
    session.add_all([*profiles, *interactions, *callbacks, *cases, *notices])
    await session.flush()
    calls = await demo_calls.seed_call_history(
        session,
        now=now,
        tenant_id=tid,
        lines=list(lines.values()),
        agents=list(agents.values()),
        callers=demo_calls.callers_of(contacts),
    )
    counts = {
        "lines": len(lines),
        "agents": len(agents),
        "contacts": len(contacts),
        "service_profiles": len(profiles),
        "interactions": len(interactions),
        "callback_requests": len(callbacks),
        "cases": len(cases),
        "notices": len(notices),
        "calls": calls,
        "phone_systems": 1,
    }
    return DemoSeed(tenant_id=tid, api_key=DEMO_API_KEY, counts=counts)


def _case(tid: int, contact_id: int, case: dict[str, Any], now: datetime) -> Case:
    """A demo case, checked as `POST /v1/cases` checks one: the demo stores no status we refuse."""
    data = CaseCreate(
        contact_id=contact_id,
        reference=case["reference"],
        kind=case["kind"],
        status=case["status"],
        position=case.get("position"),
        next_step=case["next_step"],
        owner=case["owner"],
    )
    return Case(
        tenant_id=tid,
        **data.model_dump(),
        created_at=now - timedelta(days=case["created_days"]),
        updated_at=now - timedelta(days=case["updated_days"]),
    )


def _contacts(rng: random.Random, tid: int, numbers: _Numbers) -> list[Contact]:
    """Ada first, then the callers, the household on one landline and two organisations."""
    ada = Contact(
        tenant_id=tid,
        display_name=demo_data.ADA_NAME,
        form_of_address="mevrouw De Vries",
        language="nl",
        external_id="CRM-10000",
        references={"crm": "CRM-10000", "zorgdomein": ADA_CASE_REFERENCE},
        tags=["client"],
        flags=["attention"],
        notes="Wordt liefst teruggebeld door Sanne; neem de tijd voor uitleg.",
        numbers=[_number(tid, demo_data.ADA_RAW, numbers.claim(ADA_NUMBER), "mobile")],
    )
    contacts = [ada]
    for index, person in enumerate(demo_data.PEOPLE, start=1):
        if person.language == "nl-BE":
            kinds = ["belgium"]
        else:
            kinds = [rng.choice(["mobile", "mobile", "mobile", "amersfoort", "utrecht"])]
            if rng.random() < 0.2:
                kinds.append("mobile" if kinds[0] != "mobile" else "amersfoort")
        rows = []
        for kind in kinds:
            raw, key = numbers.new(kind)
            rows.append(
                _number(tid, raw, key, "mobile" if kind in ("mobile", "belgium") else "landline")
            )
        tags = [rng.choice(demo_data.TAGS)]
        contacts.append(_contact(tid, person, index, tags=tags, numbers=rows))

    landline = demo_data.HOUSEHOLD_LANDLINE
    shared_key = numbers.claim(landline)
    for offset, person in enumerate(demo_data.HOUSEHOLD):
        rows = [_number(tid, landline, shared_key, "landline")]
        if offset < 2:  # the parents have mobiles of their own
            rows.append(_number(tid, *numbers.new("mobile"), "mobile"))
        tags = ["client" if offset == 0 else "mantelzorger"]
        household = demo_data.HOUSEHOLD_NAME
        contacts.append(
            _contact(tid, person, 100 + offset, household=household, tags=tags, numbers=rows)
        )
    for offset, (name, raw, tag) in enumerate(demo_data.ORGANISATIONS):
        contacts.append(
            Contact(
                tenant_id=tid,
                display_name=name,
                form_of_address=name,
                language="nl",
                organisation=name,
                external_id=f"ORG-{200 + offset}",
                tags=[tag],
                numbers=[_number(tid, raw, numbers.claim(raw), "work")],
            )
        )
    return contacts


def _interactions(
    rng: random.Random, now: datetime, tid: int, contacts: list[Contact], agents: dict[str, Agent]
) -> list[Interaction]:
    """Ada's own history, and 2-8 contact moments for half of the others over the last year."""
    ada = contacts[0]
    made = [
        Interaction(
            tenant_id=tid,
            contact_id=ada.id,
            channel=channel,
            direction=direction,
            summary=summary,
            outcome=outcome,
            agent_id=agents[ext].id,
            occurred_at=_at_office_hours(rng, now, days),
        )
        for days, channel, direction, summary, outcome, ext in demo_data.ADA_HISTORY
    ]
    agent_ids = [agent.id for agent in agents.values()]
    for contact in rng.sample(contacts[1:], k=len(contacts) // 2):
        for _ in range(rng.randint(2, 8)):
            channel, direction, summary, outcome = rng.choice(demo_data.INTERACTIONS)
            made.append(
                Interaction(
                    tenant_id=tid,
                    contact_id=contact.id,
                    channel=channel,
                    direction=direction,
                    summary=summary,
                    outcome=outcome,
                    agent_id=rng.choice(agent_ids),
                    occurred_at=_at_office_hours(rng, now, rng.randint(1, 365)),
                    satisfaction=rng.choice([None, None, 3, 4, 4, 5, 5]),
                )
            )
    return made
