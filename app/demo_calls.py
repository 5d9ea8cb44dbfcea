"""Four weeks of calls for the demo tenant, so a supervisor opening /dashboard sees work.

Made up like the rest of the demo and deterministic (its own random generator, so the
contacts the README names are the same with or without it). The people the README and the
widget walk-through show (Ada, the household, everyone with a case, a profile or a promised
callback) get no calls here: their cards stay as the README describes them. No ring-to-pop
figures are invented: those are measured by the server and appear once calls are rung.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_data
from app.models import Agent, Call, CallbackRequest, Contact, Interaction, Line
from app.phone import normalise

DAYS = 28
CALLS_PER_WORKING_DAY = (6, 14)
ANSWERED = 0.82  # the rest is missed, and becomes a callback request
# known, shared number (household), unknown, withheld
MATCH_WEIGHTS = (("known", 62), ("ambiguous", 6), ("unknown", 24), ("withheld", 8))
HELPED_WEIGHTS = (("resolved", 64), ("partly", 18), ("not", 8), (None, 10))
PROVIDER = "generic"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Callers:
    """Who may call in the history: contacts nobody in the README looks at, and the
    household's shared landline (a call from it is ambiguous)."""

    contacts: list[Contact]
    shared_landline: str


def callers_of(contacts: list[Contact]) -> Callers:
    """Everyone but the contacts the README and the widget walk-through show."""
    shown = {demo_data.ADA_NAME, *demo_data.PROFILES}
    shown |= {case["contact"] for case in demo_data.CASES}
    shown |= {cb["contact"] for cb in demo_data.CALLBACKS if cb["contact"]}
    pool = [
        c for c in contacts if c.display_name not in shown and c.household is None and c.numbers
    ]
    shared = normalise(demo_data.HOUSEHOLD_LANDLINE, "NL").e164
    assert shared is not None  # a fixed, valid Dutch number
    return Callers(pool, shared)


def _weighted(rng: random.Random, weights: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([value for value, _ in weights], [w for _, w in weights])[0]


def _start(rng: random.Random, day: datetime) -> datetime:
    # 7-15 h UTC is 8/9-16/17 h in Amsterdam: when the phones are staffed; mornings busier.
    hour = min(rng.choice([7, 7, 8, 8, 8, 9, 9, 10, 11, 12, 13, 14, 15]), 15)
    return day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))


async def seed_call_history(
    session: AsyncSession,
    *,
    now: datetime,
    tenant_id: int,
    lines: list[Line],
    agents: list[Agent],
    callers: Callers,
) -> int:
    """Add the calls, their interactions and the missed calls' (kept) promises; flushes."""
    rng = random.Random(7)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    calls: list[tuple[Call, bool]] = []
    for days_ago in range(DAYS, 0, -1):
        day = today - timedelta(days=days_ago)
        if day.weekday() >= 5:
            continue
        for _ in range(rng.randint(*CALLS_PER_WORKING_DAY)):
            calls.append(_call(rng, tenant_id, _start(rng, day), lines, agents, callers))
    session.add_all([call for call, _answered in calls])
    await session.flush()  # the interactions and callbacks name the calls
    for call, answered in calls:
        made = _interaction(rng, call) if answered else _kept_promise(rng, call)
        if made is not None:
            session.add(made)
    await session.flush()
    return len(calls)


def _call(
    rng: random.Random,
    tenant_id: int,
    started: datetime,
    lines: list[Line],
    agents: list[Agent],
    callers: Callers,
) -> tuple[Call, bool]:
    line = rng.choice(lines)
    match = _weighted(rng, MATCH_WEIGHTS)
    contact: Contact | None = None
    number: str | None = None
    if match == "known":
        contact = rng.choice(callers.contacts)
        number = contact.numbers[0].e164
    elif match == "ambiguous":
        number = callers.shared_landline
    elif match == "unknown":
        number = f"+316{rng.randint(10_000_000, 59_999_999)}"
    answered = rng.random() < ANSWERED
    agent = rng.choice(agents)
    answered_at = started + timedelta(seconds=rng.randint(4, 40))
    call = Call(
        tenant_id=tenant_id,
        provider=PROVIDER,
        provider_call_id=f"demo-{started:%Y%m%d%H%M%S}-{rng.randrange(10**6):06d}",
        from_e164=number,
        from_masked="" if number is None else normalise(number, "NL").masked,
        to_e164=line.number_e164,
        direction="inbound",
        state="ended" if answered else "missed",
        line_id=line.id,
        answered_by=agent.extension if answered else None,
        answered_by_agent_id=agent.id if answered else None,
        contact_id=None if contact is None else contact.id,
        match=match,
        started_at=started,
        answered_at=answered_at if answered else None,
        ended_at=(
            answered_at + timedelta(seconds=rng.randint(60, 600))
            if answered
            else started + timedelta(seconds=rng.randint(20, 45))
        ),
    )
    return call, answered


def _interaction(rng: random.Random, call: Call) -> Interaction:
    """The call's own interaction, as the call's end and the agent's wrap-up leave it."""
    channel, direction, summary, outcome = rng.choice(
        [i for i in demo_data.INTERACTIONS if i[0] == "phone" and i[1] == "inbound"]
    )
    helped = _weighted(rng, HELPED_WEIGHTS)
    return Interaction(
        tenant_id=call.tenant_id,
        contact_id=call.contact_id,
        call_id=call.id,
        occurred_at=call.started_at,  # as the call's end dates it (app/calls/wrapup.py)
        channel=channel,
        direction=direction,
        summary=summary,
        outcome=outcome,
        agent_id=call.answered_by_agent_id,
        helped=helped,
        satisfaction=None if helped is None else rng.choice([3, 4, 4, 5, 5]),
        survey_score=rng.choice([None, None, None, 3, 4, 5, 5]),
    )


def _kept_promise(rng: random.Random, call: Call) -> CallbackRequest | None:
    """A missed call's callback request, called back (most within the morning) or cancelled."""
    if call.from_e164 is None:
        return None  # withheld: nobody to call back
    assert call.ended_at is not None
    minutes = rng.choice([12, 25, 40, 55, 75, 95, 130, 180, 240, 420])
    done = rng.random() < 0.9
    return CallbackRequest(
        tenant_id=call.tenant_id,
        contact_id=call.contact_id,
        number_e164=call.from_e164,
        reason=f"Gemiste oproep om {call.started_at:%H:%M}",
        requested_at=call.ended_at,
        due_by=call.ended_at + timedelta(hours=4),
        status="done" if done else "cancelled",
        attempts=1 if minutes < 60 else 2,
        call_id=call.id,
        missed_calls=1,
        closed_at=call.ended_at + timedelta(minutes=minutes),
    )
