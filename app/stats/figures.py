"""Pure arithmetic of the dashboard: the tenant's clock, weeks and latency percentiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.metrics.registry import LATENCY_BUCKETS


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days on the tenant's clock: `since` inclusive, `until` exclusive."""

    zone: ZoneInfo
    since: date
    until: date

    @property
    def begin(self) -> datetime:
        """The first moment, in UTC."""
        return self.local_midnight(self.since)

    @property
    def end(self) -> datetime:
        """The moment after the last, in UTC."""
        return self.local_midnight(self.until)

    def local_midnight(self, day: date) -> datetime:
        """Midnight of `day` on the tenant's clock, in UTC (DST handled by zoneinfo)."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)

    def hour_of_day(self, moment: datetime) -> int:
        """0-23 on the tenant's clock."""
        return moment.astimezone(self.zone).hour

    def monday(self, moment: datetime) -> date:
        """The Monday (tenant's clock) of the week holding `moment`."""
        day = moment.astimezone(self.zone).date()
        return day - timedelta(days=day.weekday())

    def mondays(self) -> list[date]:
        """Every week touching the period, from the one holding `since`."""
        first = self.since - timedelta(days=self.since.weekday())
        return [
            first + timedelta(weeks=n)
            for n in range((self.until - first).days // 7 + ((self.until - first).days % 7 > 0))
        ]


def quantile_ms(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-quantile of a histogram by bucket index (LATENCY_BUCKETS, one past: slower), in
    milliseconds, interpolated within its bucket as Prometheus' histogram_quantile does; a
    quantile in the slowest bucket is its lower bound (there is no upper one). None if empty."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = q * total, 0
    for index in range(len(LATENCY_BUCKETS) + 1):
        count = buckets.get(index, 0)
        if count and seen + count >= rank:
            if index == len(LATENCY_BUCKETS):
                return LATENCY_BUCKETS[-1] * 1000
            lower = LATENCY_BUCKETS[index - 1] if index else 0.0
            upper = LATENCY_BUCKETS[index]
            return round((lower + (upper - lower) * (rank - seen) / count) * 1000, 3)
        seen += count
    return None


def median(values: Sequence[float]) -> float | None:
    """The middle value (mean of the two middle ones); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def mean(values: Sequence[int]) -> float | None:
    """The average, two decimals; None without values."""
    return round(sum(values) / len(values), 2) if values else None


def share(part: int, whole: int) -> float | None:
    """part / whole, 0 to 1 in four decimals; None when whole is 0."""
    return round(part / whole, 4) if whole else None
