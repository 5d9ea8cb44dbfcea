"""A batch of valid rows -> which contacts to insert and what to change in stored ones.

Pure: the writer supplies what the database holds for the batch (`Lookup`, `Existing`) and
applies the `BatchPlan`. The rules, which make a second run of the same file change nothing:

- Rows are one contact when they share an external id, or (when at most one has an external
  id) a display name (case-insensitive) and a normalised number. A row with neither external
  id nor number has only its name: it is the earlier contact of exactly that name without
  external id. Within a file the first row wins and later ones only fill gaps; that is a
  "merged duplicate".
- A group matches a stored contact the same way (a stored contact with another external id
  is another person). Touched earlier in this run, the
  contact is only filled in (the duplicate case again); otherwise the file's non-empty values
  win. An import adds and changes, it never removes: an empty cell keeps the stored value,
  and tags, flags, references and numbers missing from the file stay.
- A row that leaves a stored contact without any number is imported all the same and named
  in the plan's `numberless` (new contacts without one: the service, which knows their ids).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from app.importer.rows import ContactRow, Numberless, NumberRow

SCALARS = ("display_name", "form_of_address", "language", "organisation", "household", "notes")
CHANGEABLE = (*SCALARS, "external_id", "tags", "flags", "references")


@dataclass(slots=True)
class ExistingNumber:
    """A stored number of a matched contact."""

    id: int
    kind: str
    label: str | None


@dataclass(slots=True)
class Existing:
    """A stored contact that a group matched, as far as the import can change it."""

    id: int
    display_name: str
    external_id: str | None
    form_of_address: str | None
    language: str | None
    organisation: str | None
    household: str | None
    notes: str | None
    tags: list[str]
    flags: list[str]
    references: dict[str, Any]
    numbers: dict[str, ExistingNumber] = field(default_factory=dict)


@dataclass(slots=True)
class Lookup:
    """Stored contacts a batch may match: by external id, and by (name key, number)."""

    by_external: dict[str, int] = field(default_factory=dict)
    by_name_number: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    external_of: dict[int, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class Group:
    """Rows of a batch that are one contact; `row` holds their merged values."""

    row: ContactRow
    merged: list[tuple[int, str]] = field(default_factory=list)
    target: int | None = None
    matched_on: str = ""
    _own: bool = False

    def absorb(self, other: ContactRow, why: str) -> None:
        """Merge a duplicate row in, first values winning."""
        if not self._own:
            self.row = _copy(self.row)
            self._own = True
        fill(self.row, other)
        self.merged.append((other.line, why))


@dataclass(slots=True)
class ContactChange:
    """A stored contact's full new values (one UPDATE shape for every changed contact)."""

    id: int
    values: dict[str, Any]


@dataclass(slots=True)
class BatchPlan:
    """What one batch does to the database, and what it counts as."""

    inserts: list[ContactRow] = field(default_factory=list)
    updates: list[ContactChange] = field(default_factory=list)
    new_numbers: list[tuple[int, NumberRow]] = field(default_factory=list)
    number_updates: list[tuple[int, str, str | None]] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: list[tuple[int, str]] = field(default_factory=list)
    numberless: list[Numberless] = field(default_factory=list)


class IdSet:
    """Contact ids touched in this run: a bitmap, one bit per id up to the largest."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, contact_id: int) -> None:
        """Remember an id."""
        byte = contact_id >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte - len(self._bits) + 4096))
        self._bits[byte] |= 1 << (contact_id & 7)

    def discard(self, contact_id: int) -> None:
        """Forget an id."""
        byte = contact_id >> 3
        if byte < len(self._bits):
            self._bits[byte] &= ~(1 << (contact_id & 7)) & 0xFF

    def __contains__(self, contact_id: object) -> bool:
        if not isinstance(contact_id, int):
            return False
        byte = contact_id >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (contact_id & 7)))


def name_only(row: ContactRow) -> bool:
    """True for a row that can only be matched on its name."""
    return row.external_id is None and not row.numbers


def group_rows(rows: list[ContactRow]) -> list[Group]:
    """Merge the rows of a batch that are one contact."""
    groups: list[Group] = []
    by_external: dict[str, Group] = {}
    by_name_number: dict[tuple[str, str], Group] = {}
    by_name: dict[str, Group] = {}
    for row in rows:
        group: Group | None = None
        why = ""
        if row.external_id is not None:
            group = by_external.get(row.external_id)
            why = "same external id"
        elif not row.numbers:
            group = by_name.get(row.display_name)
            why = "same name, without number or external id,"
        if group is None:
            for number in row.numbers:
                found = by_name_number.get((row.name_key, number.e164))
                if found is not None and (row.external_id is None or found.row.external_id is None):
                    group, why = found, "same name and number"
                    break
        if group is None:
            group = Group(row)
            groups.append(group)
        else:
            group.absorb(row, f"{why} as line {group.row.line}")
        if group.row.external_id is not None:
            by_external.setdefault(group.row.external_id, group)
        else:
            by_name.setdefault(group.row.display_name, group)
        for number in group.row.numbers:
            by_name_number.setdefault((group.row.name_key, number.e164), group)
    return groups


def assign_targets(groups: list[Group], lookup: Lookup) -> list[Group]:
    """Set each group's stored contact; groups that reach the same contact become one."""
    kept: list[Group] = []
    by_target: dict[int, Group] = {}
    for group in groups:
        row = group.row
        target = lookup.by_external.get(row.external_id) if row.external_id else None
        group.matched_on = "external id"
        if target is None:
            target = _name_number_target(row, lookup, by_target)
            group.matched_on = "name" if name_only(row) else "name and number"
        owner = by_target.get(target) if target is not None else None
        if owner is not None:
            owner.absorb(row, f"same contact as line {owner.row.line}")
            owner.merged.extend(group.merged)
            continue
        group.target = target
        if target is not None:
            by_target[target] = group
        kept.append(group)
    return kept


def _name_number_target(row: ContactRow, lookup: Lookup, claimed: dict[int, Group]) -> int | None:
    if name_only(row):
        found = lookup.by_name.get(row.display_name)
        return found[0] if found else None
    for number in row.numbers:
        for candidate in lookup.by_name_number.get((row.name_key, number.e164), ()):
            if row.external_id is None:
                return candidate
            # A stored contact with another external id is another person; one without may be
            # this row's (entered through the API before the CRM export existed).
            owner = claimed.get(candidate)
            if lookup.external_of.get(candidate) is None and (
                owner is None or owner.row.external_id in (None, row.external_id)
            ):
                return candidate
    return None


def plan_changes(groups: list[Group], existing: dict[int, Existing], touched: IdSet) -> BatchPlan:
    """What to write for a batch whose groups have their targets."""
    plan = BatchPlan()
    for group in groups:
        plan.merged.extend(group.merged)
        if group.target is None:
            plan.inserts.append(group.row)
            plan.imported += 1
            continue
        stored = existing[group.target]
        again = group.target in touched
        # Touched earlier in this run, it was named (or not) at its first row.
        if not (again or stored.numbers or group.row.numbers):
            plan.numberless.append(Numberless.of(group.row, stored.id))
        changed = _apply(plan, stored, group.row, fill_only=again)
        plan.matched.append(stored.id)
        if again:
            plan.merged.append((group.row.line, f"same {group.matched_on} as an earlier row"))
        elif changed:
            plan.updated += 1
        else:
            plan.unchanged += 1
    return plan


def _apply(plan: BatchPlan, stored: Existing, row: ContactRow, *, fill_only: bool) -> bool:
    values: dict[str, Any] = {}
    for name in SCALARS:
        new, old = getattr(row, name), getattr(stored, name)
        if new is not None and new != old and not (fill_only and old is not None):
            values[name] = new
    if row.external_id is not None and stored.external_id is None:
        values["external_id"] = row.external_id
    for name in ("tags", "flags"):
        old_items: list[str] = getattr(stored, name)
        extra = [item for item in getattr(row, name) if item not in old_items]
        if extra:
            values[name] = [*old_items, *extra]
    references = dict(stored.references)
    for key, value in row.references.items():
        if not (fill_only and key in references):
            references[key] = value
    if references != stored.references:
        values["references"] = references
    numbers_changed = _apply_numbers(plan, stored, row, fill_only=fill_only)
    if values:
        current = {name: getattr(stored, name) for name in CHANGEABLE}
        plan.updates.append(ContactChange(stored.id, {**current, **values}))
    return bool(values) or numbers_changed


def _apply_numbers(plan: BatchPlan, stored: Existing, row: ContactRow, *, fill_only: bool) -> bool:
    changed = False
    for number in row.numbers:
        old = stored.numbers.get(number.e164)
        if old is None:
            plan.new_numbers.append((stored.id, number))
            changed = True
            continue
        kind = number.kind if number.explicit_kind and not fill_only else old.kind
        label = old.label
        if number.label is not None and not (fill_only and old.label is not None):
            label = number.label
        if (kind, label) != (old.kind, old.label):
            plan.number_updates.append((old.id, kind, label))
            changed = True
    return changed


def fill(target: ContactRow, other: ContactRow) -> None:
    """Fill the gaps of `target` from `other`: union of lists, numbers and references."""
    for name in SCALARS:
        if getattr(target, name) is None:
            setattr(target, name, getattr(other, name))
    if target.external_id is None:
        target.external_id = other.external_id
    target.tags.extend(tag for tag in other.tags if tag not in target.tags)
    target.flags.extend(flag for flag in other.flags if flag not in target.flags)
    for key, value in other.references.items():
        target.references.setdefault(key, value)
    known = {number.e164 for number in target.numbers}
    target.numbers.extend(number for number in other.numbers if number.e164 not in known)


def _copy(row: ContactRow) -> ContactRow:
    return dataclasses.replace(
        row,
        tags=list(row.tags),
        flags=list(row.flags),
        references=dict(row.references),
        numbers=list(row.numbers),
    )
