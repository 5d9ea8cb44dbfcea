"""What the fake widget backend sends: the agent, calls and caller cards as the real API does.

Shared by the browser tests (tests/test_widget_browser.py, tests/test_widget_reconnect.py)
and the fake backend in tests/support/fake_widget_backend.py. Every payload goes through the
server's own pydantic models (`checked`): a field the server lacks, one it requires or a value
it would refuse fails here, and what the browser gets is what the server would serialise.
"""

from __future__ import annotations

import itertools
import typing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from app.callbacks.schemas import CallbackOut
from app.recognition.schemas import Card
from app.screen_pop.schemas import Pop, PopCall

TOKEN = "sga_fake0001_widget-test-token"
ME = {
    "agent_id": 7,
    "name": "Sanne Bakker",
    "extension": "101",
    "tenant_id": 1,
    "language": "nl",
    "scopes": ["contacts:write", "lookup:read"],
    "role": "agent",
}
call_ids = itertools.count(500)  # a fresh call id per pop: next(call_ids)


# ---- payloads as the backend sends them -------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (`Card | None`, `list[Candidate]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _unknown_fields(model: type[BaseModel], payload: Any, where: str) -> list[str]:
    """Keys the model does not have, at any depth (pydantic itself ignores them)."""
    if not isinstance(payload, dict):
        return []
    found: list[str] = []
    for key, value in payload.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{where}.{key}")
            continue
        for inner in _models_in(field.annotation):
            for item in value if isinstance(value, list) else [value]:
                found += _unknown_fields(inner, item, f"{where}.{key}")
    return found


def checked(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the server would send it, after its own model accepted it."""
    unknown = _unknown_fields(model, payload, model.__name__)
    assert not unknown, f"fields the server's {model.__name__} does not have: {unknown}"
    dumped: dict[str, Any] = model.model_validate(payload).model_dump(mode="json")
    return dumped


def a_pop(kind: str, call: dict[str, Any], card: dict[str, Any] | None) -> dict[str, Any]:
    """A pop as the server publishes it."""
    pop = {"pop_id": uuid.uuid4().hex, "type": kind, "tenant_id": 1, "call": call, "card": card}
    return checked(Pop, {**pop, "at": iso(now())})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def a_call(call_id: int, state: str = "ringing", **changes: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": call_id,
        "provider": "twilio",
        "provider_call_id": f"CA{call_id:032d}",
        "state": state,
        "direction": "inbound",
        "from_e164": "+31612345678",
        "from_display": "06 12345678",
        "to_e164": "+31334567890",
        "line_label": "Client line Amersfoort",
        "ringing_extension": None,
        "answered_by_agent_id": None,
        "answered_by_name": None,
        "started_at": iso(now() - timedelta(minutes=4)),
        "answered_at": None,
        "ended_at": None,
        "interaction_id": None,
    }
    call.update(changes)
    # As lifecycle.build_pop fills them: the card is about the other party.
    outbound = call["direction"] == "outbound"
    call.setdefault("party_e164", call["to_e164"] if outbound else call["from_e164"])
    call.setdefault("party_display", None if outbound else call["from_display"])
    return checked(PopCall, call)


def mobile_number(e164: str = "+31612345678", display: str = "06 12345678") -> dict[str, Any]:
    return {
        "raw": e164,
        "e164": e164,
        "kind": "mobile",
        "region": "NL",
        "region_description": "Netherlands",
        "display": display,
    }


def known_card(contact_id: int, name: str, **changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "match": "known",
        "number": mobile_number(),
        "contact_id": contact_id,
        "display_name": name,
        "form_of_address": None,
        "language": None,
        "organisation": None,
        "household": None,
        "flags": [],
        "tags": [],
        "notes": None,
        "candidates": [],
        "service_profile": None,
        "interactions": [],
        "callbacks": [],
        "cases": [],
        "notices": [],
    }
    card.update(changes)
    return checked(Card, card)


def ada_card() -> dict[str, Any]:
    moment = now()
    return known_card(
        12,
        "Ada de Vries",
        form_of_address="Mrs De Vries",
        language="nl",
        household="De Vries family",
        flags=["attention", "vip"],
        tags=["waiting-list"],
        service_profile={
            "preferred_times": "weekday mornings, not before 10:00",
            "preferred_channel": "phone",
            "preferred_place": "Amersfoort",
            "language": "nl",
            "plain_language": True,
            "extra_explanation": True,
            "interpreter": None,
            "accessibility": "hard of hearing: speak slowly",
            "likes": ["one fixed contact person"],
            "dislikes": ["being transferred"],
            "extra": {},
        },
        interactions=[
            {
                "id": 3,
                "occurred_at": iso(moment - timedelta(days=2, hours=3)),
                "channel": "phone",
                "direction": "inbound",
                "summary": "Asked where her referral stands; explained the intake step.",
                "outcome": "answered",
                "agent_name": "Bram de Boer",
            },
            {
                "id": 2,
                "occurred_at": iso(moment - timedelta(days=9)),
                "channel": "email",
                "direction": "outbound",
                "summary": "Sent the waiting-list confirmation.",
                "outcome": None,
                "agent_name": "Sanne Bakker",
            },
        ],
        callbacks=[
            {
                "id": 31,
                "reason": "Call back about her place on the waiting list",
                "requested_at": iso(moment - timedelta(days=3)),
                "due_by": iso(moment - timedelta(days=1)),
                "overdue": True,
                "attempts": 1,
            },
            {
                "id": 32,
                "reason": "Confirm the intake appointment",
                "requested_at": iso(moment - timedelta(hours=5)),
                "due_by": iso(moment + timedelta(days=2)),
                "overdue": False,
                "attempts": 0,
            },
        ],
        cases=[
            {
                "id": 5,
                "reference": "ZD-123456",
                "kind": "waiting_list",
                "status": "waiting",
                "next_step": "Intake with the care coordinator",
                "position": 4,
                "updated_at": iso(moment - timedelta(days=1)),
            }
        ],
        notices=[
            {
                "id": 2,
                "title": "Roadworks at the Amersfoort location",
                "body": "Entrance via the Stadsring until 1 December.",
                "severity": "warning",
            }
        ],
    )


def household_card() -> dict[str, Any]:
    return checked(
        Card,
        {
            **known_card(0, ""),
            "match": "ambiguous",
            "number": {
                "raw": "+31334567890",
                "e164": "+31334567890",
                "kind": "fixed",
                "region": "NL",
                "region_description": "Amersfoort",
                "display": "033 456 7890",
            },
            "contact_id": None,
            "display_name": None,
            "candidates": [
                {
                    "contact_id": 13,
                    "display_name": "Piet de Vries",
                    "form_of_address": "Mr De Vries",
                    "household": "De Vries family",
                    "last_interaction_at": iso(now() - timedelta(days=20)),
                    "chosen_before": True,
                },
                {
                    "contact_id": 14,
                    "display_name": "Lotte de Vries",
                    "form_of_address": None,
                    "household": "De Vries family",
                    "last_interaction_at": None,
                    "chosen_before": False,
                },
            ],
        },
    )


def unknown_card(kind: str = "unknown") -> dict[str, Any]:
    number = None
    if kind == "unknown":
        number = {
            "raw": "0334567890",
            "e164": "+31334567890",
            "kind": "fixed",
            "region": "NL",
            "region_description": "Amersfoort",
            "display": "033 456 7890",
        }
    return checked(
        Card,
        {
            **known_card(0, ""),
            "match": kind,
            "number": number,
            "contact_id": None,
            "display_name": None,
        },
    )


def crm_fact(**changes: Any) -> dict[str, Any]:
    """A CRM record as a lookup source puts it on the card (`SourceFact`)."""
    return {
        "source": "CRM",
        "kind": "http",
        "display_name": "Bakkerij Jansen",
        "external_id": "4711",
        "deep_link": "https://crm.example.org/people/4711",
        "fields": ["display_name", "form_of_address", "organisation", "language"],
        "organisation": "Bakkerij Jansen B.V.",
        "language": "nl",
        "form_of_address": "Meneer Jansen",
        "last_activity": None,
        "details": {},
        **changes,
    }


def sourced_card(*facts: dict[str, Any]) -> dict[str, Any]:
    """A number not known here that lookup sources know (as merged by app/sources/merge.py)."""
    first = facts[0] if facts else crm_fact()
    return checked(
        Card,
        {
            **unknown_card(),
            "display_name": first["display_name"],
            "form_of_address": first["form_of_address"],
            "organisation": first["organisation"],
            "language": first["language"],
            "sources": list(facts) or [first],
        },
    )


def a_callback(
    callback_id: int, reason: str, *, due_in_hours: float | None, **changes: Any
) -> dict[str, Any]:
    """An open callback request as GET /v1/callbacks lists it (`overdue` as of now)."""
    moment = now()
    due = None if due_in_hours is None else moment + timedelta(hours=due_in_hours)
    callback: dict[str, Any] = {
        "id": callback_id,
        "contact_id": None,
        "number_e164": "+31612345678",
        "reason": reason,
        "requested_at": iso(moment - timedelta(days=1)),
        "due_by": None if due is None else iso(due),
        "status": "open",
        "attempts": 0,
        "missed_calls": 1,
        "assignee_agent_id": None,
        "call_id": None,
        "closed_at": None,
        "overdue": due is not None and due < moment,
    }
    callback.update(changes)
    return checked(CallbackOut, callback)
