"""A tenant's internal extensions, which win over a country's short-number rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ExtensionPlan", "ExtensionPlanError"]

_PATTERN = re.compile(r"[0-9xX]{2,8}")


class ExtensionPlanError(ValueError):
    """An extension plan that cannot be read; the message says how to write one."""


@dataclass(frozen=True, slots=True)
class ExtensionPlan:
    """A tenant's internal numbers: patterns such as "2xx" and ranges such as "3000-3099".

    A bare digit string that fits the plan is an extension, whatever the country's
    short-number rules say ("112" on a PBX whose extensions are 1xx is a colleague).
    """

    patterns: tuple[str, ...] = ()
    ranges: tuple[tuple[int, int, int], ...] = ()  # (digits, first, last)

    @classmethod
    def parse(cls, spec: str | None) -> ExtensionPlan | None:
        """Read "2xx, 3000-3099"; None for an empty spec; raises ExtensionPlanError."""
        entries = [entry.strip() for entry in (spec or "").split(",") if entry.strip()]
        if not entries:
            return None
        patterns: list[str] = []
        ranges: list[tuple[int, int, int]] = []
        for entry in entries:
            low, dash, high = entry.partition("-")
            low, high = low.strip(), high.strip()
            if dash and low.isdigit() and high.isdigit() and len(low) == len(high):
                if int(low) > int(high):
                    raise ExtensionPlanError(f"extension range {entry!r} runs backwards")
                ranges.append((len(low), int(low), int(high)))
            elif not dash and _PATTERN.fullmatch(entry):
                patterns.append(entry.lower())
            else:
                raise ExtensionPlanError(
                    f"cannot read {entry!r} as an extension: write a pattern of 2-8 digits or "
                    "x (any digit), e.g. 2xx, or a range of equally long numbers, e.g. 3000-3099"
                )
        return cls(tuple(patterns), tuple(ranges))

    def __str__(self) -> str:
        ranges = (f"{low:0{n}d}-{high:0{n}d}" for n, low, high in self.ranges)
        return ", ".join((*self.patterns, *ranges))

    def matches(self, digits: str) -> bool:
        """True if this bare digit string is one of the tenant's extensions."""
        for pattern in self.patterns:
            if len(pattern) == len(digits) and all(
                p == "x" or p == d for p, d in zip(pattern, digits, strict=True)
            ):
                return True
        return any(n == len(digits) and low <= int(digits) <= high for n, low, high in self.ranges)
