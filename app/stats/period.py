"""The period a supervisor's figures cover, on the tenant's own clock."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import FieldProblem, InvalidInput
from app.models import Tenant, utcnow

# A year of weeks: enough for any trend, and bounds what one request reads.
MAX_PERIOD_DAYS = 371


async def tenant_zone(session: AsyncSession, tenant_id: int) -> ZoneInfo:
    """The tenant's time zone; UTC if what is stored is not one (never fails a report)."""
    name = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def period(
    since: date | None, until: date | None, *, default: timedelta, zone: ZoneInfo
) -> tuple[date, date]:
    """(first day, day after the last), local days; `until` defaults to tomorrow there.

    InvalidInput (422) when the period is backwards or longer than MAX_PERIOD_DAYS.
    """
    end = until or utcnow().astimezone(zone).date() + timedelta(days=1)
    start = since or end - default
    if start >= end:
        problem = FieldProblem(field="since", message="must be before until")
        raise InvalidInput("since must be before until.", fields=[problem])
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            f"The period may span at most {MAX_PERIOD_DAYS} days; ask for a shorter one.",
            fields=[FieldProblem(field="since", message=f"at most {MAX_PERIOD_DAYS} days")],
        )
    return start, end
