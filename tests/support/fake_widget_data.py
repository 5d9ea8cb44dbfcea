"""What the fake widget backend sends: the agent, calls and caller cards as the real API does.

Shared by the browser tests (tests/test_widget_browser.py, tests/test_widget_reconnect.py)
and the fake backend in tests/support/fake_widget_backend.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

TOKEN = "sga_fake0001_widget-test-token"
ME = {
    "agent_id": 7,
    "name": "Sanne Bakker",
    "extension": "101",
    "tenant_id": 1,
    "language": "nl",
    "scopes": ["contacts:write", "lookup:read"],
}
call_ids = itertools.count(500)  # a fresh call id per pop: next(call_ids)


# ---- payloads as the backend sends them -------------------------------------------------


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
    return call


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
    return card


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
    return {
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
    }


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
    return {
        **known_card(0, ""),
        "match": kind,
        "number": number,
        "contact_id": None,
        "display_name": None,
    }
