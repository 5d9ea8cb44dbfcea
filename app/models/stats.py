"""Figures kept only for the supervisors' dashboard (the rest is read from calls and callbacks)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class RingToPopHour(Base):
    """How many pop frames reached agents within each latency bucket, per line and hour.

    Written by app/stats/ring_to_pop.py: every process tallies in memory and adds its counts
    here in one statement every few seconds. `line_id` 0 is a call on no configured line (no
    foreign key, so 0 can stand for that); `hour` counts whole hours since 1970 in UTC, so the
    dashboard can group them in any tenant's time zone; `bucket` indexes LATENCY_BUCKETS
    (app/metrics/registry.py), one past the last for slower frames.
    """

    __tablename__ = "ring_to_pop_hours"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    frames: Mapped[int] = mapped_column(Integer)
