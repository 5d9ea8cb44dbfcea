"""3CX's call report (ReportCall) → the call's end, an interaction, a callback request.

Every report ends its call through the call lifecycle, as any phone system's events do:
the card the lookup popped closes, and the interaction and a missed caller's callback
request follow the lifecycle's own rules. An outbound report is an outbound call there
(the card is about the number dialled, nobody gets a callback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.providers import TenantProvider
from app.errors import InvalidInput
from app.integrations.threecx import PROVIDER
from app.integrations.threecx.schemas import CallType, JournalIn, JournalOut
from app.integrations.threecx.template import NUMBER_STYLE
from app.models import Call, CallbackRequest, Interaction
from app.phone import PhoneNumber, normalise
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


def outbound_events(entry: JournalEntry, call_key: str, tenant: TenantProvider) -> list[CallEvent]:
    """The lifecycle events an outbound report stands for: answered then ended, or ended
    unanswered. The agent is who placed the call; the card is about the number dialled."""

    def event(kind: EventKind, at: datetime, **fields: object) -> CallEvent:
        return CallEvent(
            provider=PROVIDER,
            call_id=call_key,
            kind=kind,
            from_raw=entry.agent or "",
            to_raw=entry.number.e164 or entry.number.raw,
            direction=Direction.OUTBOUND,
            occurred_at=at,
            number_style=NUMBER_STYLE,
            **fields,  # type: ignore[arg-type]
        )

    if entry.call_type == "Notanswered":
        events = [event(EventKind.ENDED, entry.ended_at, person_answered=False)]
    else:
        events = [
            event(EventKind.ANSWERED, entry.answered_at, answered_by=entry.agent),
            event(EventKind.ENDED, entry.ended_at, person_answered=True),
        ]
    return select_events(events, tenant.config)


def turn_outbound(call: Call) -> None:
    """A lookup took the call for an incoming one: 3CX looks up whom an agent dials, too.

    The number it looked up is the person called, so it moves to the called side before
    the outbound events run through the lifecycle.
    """
    if call.direction != str(Direction.OUTBOUND) and call.ended_at is None:
        call.direction = str(Direction.OUTBOUND)
        call.to_e164, call.from_e164, call.from_masked = call.from_e164, None, ""
