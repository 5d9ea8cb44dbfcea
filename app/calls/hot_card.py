"""The caller's card as plain data, for the webhook's hot path.

The same card `recognition.service.recognise_number` builds as pydantic models (which stay
the API's contract), built as dicts from rows: the pop is serialised once, without models
in between. `tests/test_hot_path.py` checks both give the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.phone import DEFAULT_REGION, PhoneNumber, display

Card = dict[str, Any]

# Candidate rows: the contact, its service profile (all None without one), then
# the last interaction's time and whether an agent chose it for this number before.
CONTACT_COLUMNS = (
    "id", "display_name", "form_of_address", "language", "organisation", "household",
    "flags", "tags", "notes",
)  # fmt: skip
PROFILE_COLUMNS = (
    "contact_id", "preferred_times", "preferred_channel", "preferred_place", "language",
    "plain_language", "extra_explanation", "interpreter", "accessibility", "likes",
    "dislikes", "extra",
)  # fmt: skip
_PROFILE_AT = len(CONTACT_COLUMNS)
_LAST_AT = _PROFILE_AT + len(PROFILE_COLUMNS)


def moment(value: Any) -> datetime | None:
    """A stored time as aware UTC (SQLite hands back text, PostgreSQL aware datetimes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        naive: datetime = value
        return naive.replace(tzinfo=UTC)
    aware: datetime = value
    return aware.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def describe_number(number: PhoneNumber, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """What the number itself tells (`recognition.schemas.CallerNumber`)."""
    return {
        "raw": number.raw,
        "e164": number.e164,
        "kind": str(number.kind),
        "region": number.region,
        "region_description": number.region_description,
        "display": display(number, region),
    }


def empty_card(match: str, number: dict[str, Any] | None) -> Card:
    """A card with nobody on it (`Card(match=...)` with its defaults)."""
    return {
        "match": match, "number": number, "contact_id": None, "display_name": None,
        "form_of_address": None, "language": None, "organisation": None, "household": None,
        "flags": [], "tags": [], "notes": None, "candidates": [], "service_profile": None,
        "interactions": [], "callbacks": [], "cases": [], "notices": [], "sources": [],
        "masked": [],
    }  # fmt: skip


def card_from_candidates(rows: Sequence[Sequence[Any]], number: dict[str, Any] | None) -> Card:
    """The card of the top candidate, listing every candidate (ranked by the query)."""
    if not rows:
        return empty_card("unknown", number)
    top = rows[0]
    card = empty_card("known" if len(rows) == 1 else "ambiguous", number)
    card.update(
        contact_id=top[0],
        display_name=top[1],
        form_of_address=top[2],
        language=top[3],
        organisation=top[4],
        household=top[5],
        flags=list(_json(top[6]) or []),
        tags=list(_json(top[7]) or []),
        notes=top[8],
        candidates=[
            {
                "contact_id": row[0],
                "display_name": row[1],
                "form_of_address": row[2],
                "household": row[5],
                "last_interaction_at": moment(row[_LAST_AT]),
                "chosen_before": bool(row[_LAST_AT + 1]),
            }
            for row in rows
        ],
    )
    if top[_PROFILE_AT] is not None:
        p = top[_PROFILE_AT:_LAST_AT]
        card["service_profile"] = {
            "preferred_times": p[1],
            "preferred_channel": p[2],
            "preferred_place": p[3],
            "language": p[4],
            "plain_language": bool(p[5]),
            "extra_explanation": bool(p[6]),
            "interpreter": p[7],
            "accessibility": p[8],
            "likes": list(_json(p[9]) or []),
            "dislikes": list(_json(p[10]) or []),
            "extra": dict(_json(p[11]) or {}),
        }
    return card


def add_details(card: Card, rows: Sequence[Sequence[Any]], now: datetime) -> None:
    """Interactions, callbacks, cases and notices from the details statement's rows
    (kind, id, at, due, t1..t5, n), each list in the order the card shows it."""
    interactions, callbacks, cases, notices = (
        card["interactions"], card["callbacks"], card["cases"], card["notices"],
    )  # fmt: skip
    for kind, id_, at, due, t1, t2, t3, t4, t5, n in rows:
        if kind == "interaction":
            interactions.append({
                "id": id_, "occurred_at": moment(at), "channel": t1, "direction": t5,
                "summary": t2, "outcome": t3, "agent_name": t4,
            })  # fmt: skip
        elif kind == "callback":
            due_by = moment(due)
            callbacks.append({
                "id": id_, "reason": t1, "requested_at": moment(at), "due_by": due_by,
                "overdue": due_by is not None and due_by < now, "attempts": n or 0,
            })  # fmt: skip
        elif kind == "case":
            cases.append({
                "id": id_, "reference": t1, "kind": t2, "status": t3, "next_step": t4,
                "position": n, "updated_at": moment(at),
            })  # fmt: skip
        else:
            notices.append({
                "id": id_, "title": t1, "body": t2, "severity": t3, "sensitive": bool(n),
            })  # fmt: skip
    # The same orders as recognition.service._fill_details (UNION ALL keeps none).
    interactions.sort(key=lambda i: (i["occurred_at"], i["id"]), reverse=True)
    callbacks.sort(
        key=lambda c: (not c["overdue"], c["due_by"] is None, c["due_by"] or now, c["id"])
    )
    cases.sort(key=lambda c: c["updated_at"], reverse=True)
