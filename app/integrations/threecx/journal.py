"""3CX's call report (ReportCall) → the call's end, an interaction, a callback request.

Inbound calls (answered or missed) end through the call lifecycle, as any phone system's
events do: the card the lookup popped closes, the interaction and the missed caller's
callback request follow the lifecycle's own rules. Outbound calls are journalled here:
the lifecycle knows callers, not the people agents call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.lifecycle import build_pop
from app.calls.providers import TenantProvider
from app.calls.routing import find_answering_agent, route_call
from app.errors import InvalidInput
from app.integrations.threecx import PROVIDER
from app.integrations.threecx.schemas import CallType, JournalIn, JournalOut
from app.integrations.threecx.template import NUMBER_STYLE
from app.models import Call, CallbackRequest, Interaction
from app.phone import PhoneNumber, normalise
from app.recognition.service import recognise_number
from app.screen_pop.schemas import Pop
from telephony_adapters.base import CallEvent, Direction, EventKind, select_events

# Cultures 3CX may print [DateTime] in; ISO 8601 (what the template sends) is tried first.
_LOCAL_FORMATS = (
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M",
)
_LONGEST_CALL = 86_400  # seconds; a longer "duration" is junk and would overflow the times
_DURATION = re.compile(r"(?:(\d+)\.)?(\d+):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?")


def parse_moment(text: str | None, zone: tzinfo) -> datetime | None:
    """A time 3CX printed, as aware UTC; a time without a zone is read in `zone`."""
    if not text:
        return None
    moment: datetime | None = None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        for layout in _LOCAL_FORMATS:
            try:
                moment = datetime.strptime(text, layout)
                break
            except ValueError:
                continue
    if moment is None or not 2000 <= moment.year <= 2100:  # junk, not a call
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_duration(text: str | None) -> int | None:
    """Seconds from 3CX's `hh:mm:ss` (or `mm:ss`, `d.hh:mm:ss`, bare seconds)."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    days, first, second, third = match.groups()
    if third is None:  # mm:ss
        seconds = int(first) * 60 + int(second)
    else:
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    return seconds + int(days or 0) * 86_400


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A call report made sense of."""

    number: PhoneNumber
    call_type: CallType
    agent: str | None
    started_at: datetime
    ended_at: datetime
    talk_seconds: int

    @property
    def answered_at(self) -> datetime:
        """When the talking started: the end less the talk time, never before the start."""
        return max(self.started_at, self.ended_at - timedelta(seconds=self.talk_seconds))


def read_entry(body: JournalIn, *, region: str, timezone: str) -> JournalEntry:
    """Times and duration from whatever 3CX sent; InvalidInput when no time at all."""
    local = ZoneInfo(timezone)
    talk = parse_duration(body.duration)
    talk = None if talk is None else min(talk, _LONGEST_CALL)
    start = parse_moment(body.call_start_time_utc, UTC) or parse_moment(body.date_time, local)
    end = parse_moment(body.call_end_time_utc, UTC)
    if start is None and end is not None:
        start = end - timedelta(seconds=talk or 0)
    if start is None:
        raise InvalidInput(
            "The call report has no time: send CallStartTimeUTC (ISO 8601) or DateTime, "
            "as the Stamgast 3CX template does."
        )
    answered = body.call_type in ("Inbound", "Outbound")
    if talk is None:
        talk = int((end - start).total_seconds()) if answered and end is not None else 0
        talk = min(talk, _LONGEST_CALL)
    return JournalEntry(
        number=normalise(body.number, region, style=NUMBER_STYLE),
        call_type=body.call_type,
        agent=body.agent,
        started_at=start,
        ended_at=max(start, end or start + timedelta(seconds=talk)),
        talk_seconds=max(0, talk) if answered else 0,
    )


def inbound_events(entry: JournalEntry, call_key: str, tenant: TenantProvider) -> list[CallEvent]:
    """The lifecycle events an inbound report stands for: answered then ended, or missed."""

    def event(kind: EventKind, at: datetime, answered_by: str | None = None) -> CallEvent:
        return CallEvent(
            provider=PROVIDER,
            call_id=call_key,
            kind=kind,
            from_raw=entry.number.e164 or entry.number.raw,
            to_raw="",
            answered_by=answered_by,
            occurred_at=at,
            number_style=NUMBER_STYLE,
            person_answered=None if kind is EventKind.ANSWERED else entry.call_type == "Inbound",
        )

    if entry.call_type == "Missed":
        events = [event(EventKind.MISSED, entry.ended_at)]
    else:
        events = [
            event(EventKind.ANSWERED, entry.answered_at, entry.agent),
            event(EventKind.ENDED, entry.ended_at),
        ]
    return select_events(events, tenant.config)


async def find_call(session: AsyncSession, tenant_id: int, call_key: str) -> Call | None:
    """The 3CX call with this key, if any."""
    return await session.scalar(
        select(Call).where(
            Call.tenant_id == tenant_id,
            Call.provider == PROVIDER,
            Call.provider_call_id == call_key,
        )
    )


async def read_back(
    session: AsyncSession, *, tenant_id: int, call_key: str, duplicate: bool
) -> JournalOut:
    """What a report became: the call, its interaction and its callback request."""
    call = await find_call(session, tenant_id, call_key)
    if call is None:
        return JournalOut(
            duplicate=duplicate,
            call_id=None,
            contact_id=None,
            interaction_id=None,
            callback_request_id=None,
        )
    interaction_id = await session.scalar(
        select(Interaction.id)
        .where(Interaction.tenant_id == tenant_id, Interaction.call_id == call.id)
        .order_by(Interaction.id)
        .limit(1)
    )
    callback_id = await session.scalar(
        select(CallbackRequest.id)
        .where(CallbackRequest.tenant_id == tenant_id, CallbackRequest.call_id == call.id)
        .order_by(CallbackRequest.id)
        .limit(1)
    )
    return JournalOut(
        duplicate=duplicate,
        call_id=call.id,
        contact_id=call.contact_id,
        interaction_id=interaction_id,
        callback_request_id=callback_id,
    )


async def _match(
    session: AsyncSession, tenant_id: int, number: PhoneNumber
) -> tuple[int | None, str]:
    card = await recognise_number(session, tenant_id=tenant_id, number=number)
    return card.contact_id, card.match


def _summary(entry: JournalEntry, agent_name: str | None, timezone: str) -> str:
    if entry.call_type == "Notanswered":
        local = entry.started_at.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
        return f"Uitgaande oproep om {local}, niet beantwoord"
    summary = f"Uitgaand gesprek, {max(1, round(entry.talk_seconds / 60))} min"
    return f"{summary}, door {agent_name}" if agent_name else summary


async def record_outbound(
    session: AsyncSession, *, tenant: TenantProvider, entry: JournalEntry, call_key: str
) -> tuple[JournalOut, tuple[list[int], Pop] | None]:
    """File an outbound call (answered or not) as an interaction; flushes, never commits.

    Returns the pop closing the card a lookup opened for it (when 3CX looked up the number
    an agent dialled), to publish after the commit.
    """
    tenant_id = tenant.tenant_id
    existing = await find_call(session, tenant_id, call_key)
    if existing is not None and existing.ended_at is not None:
        return await read_back(
            session, tenant_id=tenant_id, call_key=call_key, duplicate=True
        ), None
    if tenant.config.events is not None and EventKind.ENDED not in tenant.config.events:
        return await read_back(
            session, tenant_id=tenant_id, call_key=call_key, duplicate=False
        ), None
    contact_id, match = await _match(session, tenant_id, entry.number)
    agent = None
    if entry.agent:
        agent = await find_answering_agent(session, tenant_id=tenant_id, answered_by=entry.agent)
    call = existing or Call(
        tenant_id=tenant_id,
        provider=PROVIDER,
        provider_call_id=call_key,
        from_e164=entry.number.key,
        from_masked=entry.number.masked,
        started_at=entry.started_at,
    )
    answered = entry.call_type == "Outbound"
    call.direction, call.state, call.ended_at = str(Direction.OUTBOUND), "ended", entry.ended_at
    call.answered_at = entry.answered_at if answered else None
    call.contact_id, call.match = contact_id, match
    call.answered_by = agent.name if agent is not None else entry.agent
    call.answered_by_agent_id = agent.agent_id if agent is not None else None
    session.add(call)
    await session.flush()
    interaction = Interaction(
        tenant_id=tenant_id,
        contact_id=contact_id,
        occurred_at=entry.started_at,
        channel="phone",
        direction="outbound",
        summary=_summary(entry, call.answered_by, tenant.timezone),
        outcome="answered" if answered else "not_answered",
        agent_id=call.answered_by_agent_id,
        call_id=call.id,
    )
    session.add(interaction)
    await session.flush()
    pop = None
    if existing is not None:
        route = await route_call(session, tenant_id=tenant_id, called_key=None, extension=None)
        if route.recipients:
            closing = build_pop(call, "call.ended", route, None, interaction.id, entry.ended_at)
            pop = ([r.agent_id for r in route.recipients], closing)
    result = JournalOut(
        duplicate=False,
        call_id=call.id,
        contact_id=contact_id,
        interaction_id=interaction.id,
        callback_request_id=None,
    )
    return result, pop
