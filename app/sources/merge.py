"""Putting what sources found on a card (plain data), each fact naming where it came from.

A card's own facts (a local contact's) always win: a source only fills what is empty, and
its record is listed in `sources` either way, with the fields it filled.
"""

from __future__ import annotations

from typing import Any

from app.sources.lookup import Found

FILLED = ("display_name", "form_of_address", "organisation", "language")
MAX_FACTS = 10


def merge(card: dict[str, Any], found: list[Found]) -> dict[str, Any]:
    """A copy of `card` with the records of `found` merged in, in the order given."""
    merged = dict(card)
    facts: list[dict[str, Any]] = list(merged.get("sources") or [])
    seen = {(fact["source"], fact["external_id"], fact["display_name"]) for fact in facts}
    flags: list[str] = list(merged.get("flags") or [])
    for answer in found:
        for record in answer.records:
            key = (answer.ref.name, record.external_id, record.display_name)
            if key in seen or len(facts) >= MAX_FACTS:
                continue
            seen.add(key)
            fields = []
            for name in FILLED:
                value = getattr(record, name)
                if value and not merged.get(name):
                    merged[name] = value
                    fields.append(name)
            new_flags = [flag for flag in record.flags if flag not in flags]
            if new_flags:
                flags.extend(new_flags)
                fields.append("flags")
            facts.append(
                {
                    "source": answer.ref.name,
                    "kind": answer.ref.kind,
                    "display_name": record.display_name,
                    "external_id": record.external_id,
                    "deep_link": record.deep_link,
                    "fields": fields,
                    "organisation": record.organisation,
                    "language": record.language,
                    "form_of_address": record.form_of_address,
                    "last_activity": record.last_activity,
                    "details": dict(record.details),
                }
            )
    merged["flags"] = flags
    merged["sources"] = facts
    return merged
