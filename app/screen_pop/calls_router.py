"""GET /v1/me/calls: what an agent's widget reloads after the stream said `resync`."""

from __future__ import annotations

from fastapi import APIRouter

from app import audit
from app.api.deps import DbSession, LookupReader
from app.errors import Forbidden, error_responses
from app.models import Tenant, utcnow
from app.phone import normalise
from app.screen_pop.agent_calls import FINISHED_SHOWN_FOR, MOST_CALLS, calls_for_agent
from app.screen_pop.schemas import Pop

router = APIRouter(tags=["screen-pop"])

_MINUTES = int(FINISHED_SHOWN_FOR.total_seconds() // 60)


@router.get(
    "/me/calls",
    response_model=list[Pop],
    summary="The calls an agent's widget shows now",
    description=(
        f"The agent's ringing and answered calls, and those that ended in the last "
        f"{_MINUTES} minutes (for their wrap-up), newest first, at most {MOST_CALLS}: each "
        "as the pop of its current state, with a fresh card. For an agent token only; the "
        "widget asks after the stream said `resync`."
    ),
    responses=error_responses(401, 403),
)
async def my_calls(session: DbSession, principal: LookupReader) -> list[Pop]:
    """Translate the request to `calls_for_agent`; audit each card shown."""
    if principal.agent_id is None:
        raise Forbidden(
            "Only an agent token has calls: use the token of the agent's widget "
            "(POST /v1/agents/{agent_id}/tokens)."
        )
    tenant = await session.get(Tenant, principal.tenant_id)
    assert tenant is not None  # the principal's tenant exists while its key does
    pops = await calls_for_agent(session, tenant=tenant, agent_id=principal.agent_id, now=utcnow())
    for pop in pops:
        # Each card shown is a lookup of that caller by this agent.
        audit.record(
            session, tenant_id=tenant.id, actor=principal.actor, action="view",
            subject_type="call", subject_id=pop.call.id,
            contact_id=pop.card.contact_id if pop.card is not None else None,
            number_masked=_masked(pop, tenant.default_region), via="widget",
            agent_id=principal.agent_id,
        )  # fmt: skip
    if principal.sees_sensitive:
        return pops
    # The agent's role's view, as its stream delivers it (app/screen_pop/views.py).
    return [pop.masked() or pop for pop in pops]


def _masked(pop: Pop, region: str) -> str | None:
    party = pop.call.party_e164
    return normalise(party, region).masked if party else None
