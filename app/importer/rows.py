"""One source record -> a validated `ContactRow`, or the reasons it is rejected.

A row is rejected for what would make a bad contact (no name, a bad language tag, a value
longer than its column, control characters, undecodable bytes). A number that cannot be
normalised is reported on its own, and the contact is still imported without it. So is a row
without any number: a contact a call cannot recognise is still one found by name, reference or
case, as the API allows, and matching has a rule for it (see matching.py); the report lists
each such contact so nobody thinks it will pop up on a call.

Single-line fields have their whitespace collapsed; notes keep their line breaks. An empty
cell means "nothing given": the importer never clears a stored value with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.api.inputs import LANGUAGE_PATTERN
from app.importer.fields import NAME_FIELDS, TEXT_FIELDS, SourceRecord, split_list
from app.importer.numbers import Resolved

LIMITS = {
    "external_id": 120,
    "display_name": 200,
    "form_of_address": 200,
    "language": 35,
    "organisation": 200,
    "household": 200,
    "notes": 10_000,
}
ITEM_LIMIT = 64  # a tag, a flag, a reference name, a number label
_LABELS = {
    name: "name" if name == "display_name" else name.replace("_", " ") for name in TEXT_FIELDS
}
_NAME_PARTS = ("first_name", "infix", "last_name")
REFERENCE_LIMIT = 200

_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUSPECT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_LANGUAGE_NAMES = {
    "nederlands": "nl", "dutch": "nl", "vlaams": "nl-BE", "engels": "en", "english": "en",
    "duits": "de", "german": "de", "deutsch": "de", "frans": "fr", "french": "fr",
    "français": "fr", "spaans": "es", "spanish": "es", "turks": "tr", "turkish": "tr",
    "arabisch": "ar", "arabic": "ar", "pools": "pl", "polish": "pl", "fries": "fy",
    "frysk": "fy", "frisian": "fy", "papiaments": "pap", "papiamento": "pap",
}  # fmt: skip


@dataclass(slots=True)
class NumberRow:
    """A normalised number of a row; `explicit_kind` when its column or TYPE said the kind."""

    e164: str
    raw: str
    kind: str
    label: str | None
    explicit_kind: bool


@dataclass(slots=True)
class ContactRow:
    """A valid row: what the file says about one contact."""

    line: int
    display_name: str
    name_key: str
    external_id: str | None = None
    form_of_address: str | None = None
    language: str | None = None
    organisation: str | None = None
    household: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    numbers: list[NumberRow] = field(default_factory=list)
    # Any number in the row, valid or not: says why a contact ends up without one.
    numbers_given: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that is not imported, and why."""

    line: int
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """All reasons in one line."""
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class Numberless:
    """A contact this import leaves without any number: no call will recognise it."""

    line: int
    reason: str
    contact_id: int | None  # None in a dry run, which writes no contact

    @staticmethod
    def of(row: ContactRow, contact_id: int | None) -> Numberless:
        """Why `row` leaves its contact without a number."""
        given = row.numbers_given
        reason = "no number could be normalised" if given else "no phone number given"
        return Numberless(row.line, reason, contact_id)


@dataclass(frozen=True, slots=True)
class BadNumber:
    """A number that could not be normalised; its row is imported without it."""

    line: int
    raw: str
    reason: str


def name_key(display_name: str) -> str:
    """How names compare when matching a row without external id to a stored contact."""
    return display_name.casefold()


def number_raws(record: SourceRecord) -> list[str]:
    """The numbers of a record as they go to the normaliser (readers strip them)."""
    return [n.raw for n in record.numbers if n.raw]


def build(
    record: SourceRecord, resolved: Mapping[str, Resolved]
) -> tuple[ContactRow | Rejection, list[BadNumber]]:
    """Validate one record whose numbers are in `resolved` (from `number_raws`)."""
    if record.problem is not None:
        return Rejection(record.line, (record.problem,)), []
    problems: list[str] = []
    given: dict[str, Any] = {}
    # Only the fields the record has: the hot path of a million-row import.
    for name, text in record.values.items():
        value: Any
        if name == "notes":
            value = _notes(text, problems)
        elif name == "language":
            value = _language(text, problems)
        elif name == "tags" or name == "flags":
            value = _items(text, name[:-1], problems)
        else:
            value = " ".join(text.split())
            if value and not _checked(_LABELS[name], value, LIMITS.get(name), problems):
                value = None
        if value:
            given[name] = value
    display_name: str = given.get("display_name") or " ".join(
        given[part] for part in _NAME_PARTS if part in given
    )
    if display_name and "display_name" not in given:
        _checked("name", display_name, LIMITS["display_name"], problems)
    elif not display_name and not any(record.values.get(f, "").strip() for f in NAME_FIELDS):
        problems.insert(0, "missing name")  # (a name given but unusable has its own reason)
    row = ContactRow(
        record.line,
        display_name,
        name_key(display_name),
        given.get("external_id"),
        given.get("form_of_address"),
        given.get("language"),
        given.get("organisation"),
        given.get("household"),
        given.get("notes"),
        given.get("tags", []),
        given.get("flags", []),
    )
    for ref_name, ref_value in record.references.items():
        ref_name, cleaned = ref_name.strip(), " ".join(ref_value.split())
        if (
            cleaned
            and _checked(f"reference {ref_name}", cleaned, REFERENCE_LIMIT, problems)
            and _checked("reference name", ref_name, ITEM_LIMIT, problems)
        ):
            row.references[ref_name] = cleaned
    bad: list[BadNumber] = []
    seen: set[str] = set()
    for number in record.numbers:
        raw = number.raw
        if not raw:
            continue
        row.numbers_given = True
        key, outcome = resolved[raw]
        if key is None:
            bad.append(BadNumber(record.line, raw, outcome))
            continue
        label = " ".join(number.label.split()) if number.label else None
        if label and not _checked("number label", label, ITEM_LIMIT, problems):
            continue
        if key not in seen:
            seen.add(key)
            kind = number.kind or outcome
            row.numbers.append(NumberRow(key, raw, kind, label or None, number.kind is not None))
    if problems:
        return Rejection(record.line, tuple(problems)), []
    return row, bad


def _checked(label: str, text: str, limit: int | None, problems: list[str]) -> bool:
    if limit is not None and len(text) > limit:
        problems.append(f"{label} too long ({len(text)} characters, at most {limit})")
        return False
    if _SUSPECT.search(text) is None:
        return True
    if _CONTROL.search(text):
        problems.append(f"control character in {label}")
    else:
        problems.append(f"undecodable characters in {label} (is the file UTF-8?)")
    return False


def _notes(text: str, problems: list[str]) -> str | None:
    cleaned = "\n".join(line.rstrip() for line in text.strip().splitlines())
    if not cleaned:
        return None
    return cleaned if _checked("notes", cleaned, LIMITS["notes"], problems) else None


def _language(text: str, problems: list[str]) -> str | None:
    candidate = text.strip()
    if not candidate:
        return None
    tag = language_tag(candidate)
    if tag is None:
        shown = candidate if len(candidate) <= 40 else candidate[:40] + "…"
        problems.append(f"bad language tag '{shown}' (use e.g. nl, en or en-GB)")
    return tag


@functools.lru_cache(maxsize=512)
def language_tag(text: str) -> str | None:
    """A language name or tag as a BCP 47 tag in canonical case; None if it is neither."""
    candidate = text.replace("_", "-")
    named = _LANGUAGE_NAMES.get(candidate.casefold())
    if named is not None:
        return named
    if len(candidate) > LIMITS["language"] or not _LANGUAGE.fullmatch(candidate):
        return None
    # BCP 47 casing, so "NL", "nl_nl" and "nl-NL" are one value and a re-run changes nothing.
    first, *rest = candidate.split("-")
    tail = [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower() for p in rest]
    return "-".join([first.lower(), *tail])


def _items(text: str, label: str, problems: list[str]) -> list[str]:
    items = [" ".join(item.split()) for item in split_list(text)]
    for item in items:
        if not _checked(label, item, ITEM_LIMIT, problems):
            return []
    return items
