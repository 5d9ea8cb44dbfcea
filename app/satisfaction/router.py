"""Survey scores and first-contact resolution over HTTP: a router only translates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.api.deps import ContactsWriter, DbSession, Supervisor
from app.api.inputs import id_path
from app.auth.keys import Principal
from app.errors import error_responses
from app.satisfaction import fcr, survey
from app.satisfaction.schemas import FcrOut, FcrWeekOut, ProviderSurveyIn, SurveyIn, SurveyOut
from app.stats.period import period, tenant_zone

router = APIRouter()

DEFAULT_WEEKS = 12


@router.post(
    "/calls/{call_id}/survey",
    response_model=SurveyOut,
    tags=["calls"],
    summary="Attach the caller's post-call survey score (1-5) to the call's interaction",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def post_survey(
    call_id: Annotated[int, id_path("call")],
    body: SurveyIn,
    session: DbSession,
    principal: ContactsWriter,
) -> SurveyOut:
    """An IVR or survey tool sends the score the caller gave after the call (e.g. DTMF 1-5).

    409 while the call has not ended (it has no interaction yet) and when the call already
    has a different score: a survey is answered once. The same score sent again (a retry
    whose answer was lost) is accepted and changes nothing.
    """
    return await _score(session, principal, call_id, body.score)


@router.post(
    "/surveys",
    response_model=SurveyOut,
    tags=["calls"],
    summary="Attach a survey score to a call named by the phone system's call id",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def post_provider_survey(
    body: ProviderSurveyIn, session: DbSession, principal: ContactsWriter
) -> SurveyOut:
    """For an IVR that asks "press 1 to 5" after the call: it knows the call by the id the
    phone system gave it (`provider_call_id`, as in the webhooks), not by Stamgast's id.
    The same rules as `POST /v1/calls/{call_id}/survey`.
    """
    call_id = await survey.call_by_provider_id(
        session,
        tenant_id=principal.tenant_id,
        provider=body.provider,
        provider_call_id=body.provider_call_id,
    )
    return await _score(session, principal, call_id, body.score)


async def _score(
    session: AsyncSession, principal: Principal, call_id: int, score: int
) -> SurveyOut:
    interaction, changed = await survey.record_score(
        session, tenant_id=principal.tenant_id, call_id=call_id, score=score
    )
    if not changed:  # a retry: audited the first time
        return SurveyOut(interaction_id=interaction.id, call_id=call_id, score=score)
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        agent_id=principal.agent_id,
        action="update",
        subject_type="interaction",
        subject_id=interaction.id,
        contact_id=interaction.contact_id,
    )
    return SurveyOut(interaction_id=interaction.id, call_id=call_id, score=score)


@router.get(
    "/stats/fcr",
    response_model=FcrOut,
    tags=["stats"],
    summary="First-contact resolution per week",
    responses=error_responses(401, 403, 422),
)
async def get_fcr(
    session: DbSession,
    principal: Supervisor,
    since: Annotated[
        date | None,
        Query(
            description="First day on the tenant's clock (inclusive); default 12 weeks before "
            "`until`"
        ),
    ] = None,
    until: Annotated[
        date | None,
        Query(description="Day after the last, on the tenant's clock; default tomorrow"),
    ] = None,
    repeat_days: Annotated[
        int,
        Query(ge=1, le=90, description="A call again within this many days means not helped"),
    ] = 7,
) -> FcrOut:
    """Per ISO week (Monday 00:00 on the tenant's clock, `PATCH /v1/tenant` timezone), from
    the week holding `since` up to `until`: inbound calls answered, those the agent wrapped
    up as helped "resolved", and those resolved first time.

    The rule: an answered call is resolved first time when its wrap-up says helped =
    resolved **and** the same caller did not call in again (answered or not) within
    `repeat_days` days after the call started. The same caller means the same contact when
    the call was recognised, or the same number; calls carry no topic, so any call again
    counts as "about the same thing" and makes the first call not helped. A caller with a
    withheld number who was not recognised cannot be followed and is taken at the agent's
    word. `called_again` counts answered calls followed by such a call, whatever the
    wrap-up said. Role supervisor or admin (keys and agent tokens).
    """
    zone = await tenant_zone(session, principal.tenant_id)
    start, end = period(since, until, default=timedelta(weeks=DEFAULT_WEEKS), zone=zone)
    weeks = await fcr.weekly(
        session,
        tenant_id=principal.tenant_id,
        since=start,
        until=end,
        repeat_days=repeat_days,
        zone=zone,
    )
    return FcrOut(
        since=start,
        until=end,
        repeat_days=repeat_days,
        weeks=[
            FcrWeekOut(
                week_start=w.week_start,
                answered=w.answered,
                resolved=w.resolved,
                resolved_first_time=w.resolved_first_time,
                called_again=w.called_again,
                rate=round(w.resolved_first_time / w.answered, 4) if w.answered else None,
            )
            for w in weeks
        ],
    )
