"""jambonz: Jambonz-Signature, call hook and status callbacks, the verbs we answer with.

No jambonz SDK is installed for Python: signatures come from `cases_jambonz.jambonz_header`,
stdlib `hmac` over jambonz's documented scheme, written without the adapter's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
    PayloadError,
    SignatureError,
)
from telephony_adapters.jambonz import DECLINE, JambonzAdapter, jambonz_signature
from tests.adapters.cases_jambonz import jambonz_header, wire
from tests.support import vendor_fixtures

SECRET = "wh_secret_acme_0123456789"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/jambonz/acme"
CONFIG = AdapterConfig(secret=SECRET)
PARENT = "ac5c697a-bfae-4335-ad8a-0242ac120002"

adapter = JambonzAdapter()


def fixture(name: str) -> bytes:
    """The recorded body as jambonz puts it on the wire (JSON.stringify: compact)."""
    return wire(json.loads(vendor_fixtures.load("jambonz", name).body))


def signed(body: bytes, *, secret: str = SECRET, stamp: int = STAMP) -> AdapterRequest:
    headers = {
        "content-type": "application/json",
        "jambonz-signature": jambonz_header(secret, body, stamp),
    }
    return AdapterRequest("POST", URL, headers, body)


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def one(name: str) -> CallEvent:
    [event] = parse(signed(fixture(name)))
    return event


def refused(request: AdapterRequest, config: AdapterConfig = CONFIG) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request, config)
    return caught.value.message


def answer(request: AdapterRequest, options: Mapping[str, str] | None = None) -> Any:
    config = AdapterConfig(secret=SECRET, options=options or {})
    response = adapter.respond(request, config, parse(request, config), Outcome())
    assert (response.status_code, response.media_type) == (200, "application/json")
    return json.loads(response.body)


# --- signatures ---------------------------------------------------------------------------


def test_our_signature_matches_the_independent_one() -> None:
    body = fixture("call-hook.json")
    assert f"t={STAMP},v1={jambonz_signature(SECRET, body, STAMP)}" == jambonz_header(
        SECRET, body, STAMP
    )


def test_wrong_secret_is_refused() -> None:
    message = refused(signed(fixture("call-hook.json"), secret="another-account"))
    assert message.startswith("Jambonz-Signature does not match")


def test_altered_body_is_refused() -> None:
    request = signed(fixture("status-completed.json"))
    altered = request.body.replace(b'"duration":94', b'"duration":4')
    assert "does not match" in refused(AdapterRequest("POST", URL, request.headers, altered))


def test_timestamp_is_part_of_the_signature() -> None:
    request = signed(fixture("status-trying.json"))
    header = request.headers["jambonz-signature"].replace(f"t={STAMP}", f"t={STAMP + 1}")
    moved = {**request.headers, "jambonz-signature": header}
    assert "does not match" in refused(AdapterRequest("POST", URL, moved, request.body))


def test_missing_header_is_refused() -> None:
    request = AdapterRequest("POST", URL, {"content-type": "application/json"}, b"{}")
    assert refused(request) == "missing Jambonz-Signature header"


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-301, "timestamp is 301 s old"), (301, "timestamp is 301 s in the future")],
)
def test_stale_and_future_timestamps_are_refused(offset: int, message: str) -> None:
    body = fixture("status-trying.json")
    assert message in refused(signed(body, stamp=STAMP + offset))
    assert len(parse(signed(body, stamp=STAMP + (300 if offset > 0 else -300)))) == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("v1=abc", "has no t=<unix seconds> timestamp"),
        ("t=soon,v1=abc", "has no t=<unix seconds> timestamp"),
        (f"t={STAMP}", "holds no v1= signature"),
        (f"t={STAMP},v0=abc", "holds no v1= signature"),
    ],
)
def test_malformed_headers_are_refused(header: str, message: str) -> None:
    request = AdapterRequest("POST", URL, {"jambonz-signature": header}, b"{}")
    assert message in refused(request)


def test_any_v1_value_may_match_for_secret_rotation() -> None:
    body = fixture("status-trying.json")
    old = jambonz_header("old-secret", body, STAMP).split(",")[1]
    new = jambonz_header(SECRET, body, STAMP).split(",")[1]
    header = f"t={STAMP},{old},{new}"
    request = AdapterRequest("POST", URL, {"jambonz-signature": header}, body)
    assert len(parse(request)) == 1


def test_get_hooks_cannot_be_verified() -> None:
    request = AdapterRequest("GET", URL + "?call_sid=x", {"jambonz-signature": "t=1,v1=a"}, b"")
    assert "set the webhook's method to POST" in refused(request)


def test_empty_secret_accepts_nothing() -> None:
    assert "no webhook secret" in refused(signed(b"{}", secret=""), AdapterConfig(secret=""))


def test_malformed_body_is_checked_only_after_the_signature() -> None:
    assert "does not match" in refused(signed(b"not json", secret="wrong"))


# --- mappings -----------------------------------------------------------------------------


def test_call_hook_rings() -> None:
    event = one("call-hook.json")
    assert event == CallEvent(
        provider="jambonz",
        call_id=PARENT,
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="+31201234567",
        direction=Direction.INBOUND,
        caller_name="Ada L",
        number_style=NumberStyle.SIP_USER,
        raw=event.raw,
    )
    assert event.raw["sip_status"] == "100"
    assert "sip" not in event.raw and "defaults" not in event.raw  # no INVITE or SDP kept


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("status-trying.json", EventKind.RINGING),
        ("status-in-progress.json", EventKind.ANSWERED),
        ("status-completed.json", EventKind.ENDED),
        ("status-no-answer.json", EventKind.MISSED),
    ],
)
def test_status_callbacks_of_the_call(name: str, kind: EventKind) -> None:
    event = one(name)
    assert (event.call_id, event.kind, event.answered_by) == (PARENT, kind, None)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("ringing", EventKind.RINGING),
        ("early-media", EventKind.RINGING),
        ("failed", EventKind.MISSED),
        ("busy", EventKind.MISSED),
    ],
)
def test_other_statuses(status: str, kind: EventKind) -> None:
    body = {"call_sid": "c-1", "from": "+3161", "to": "+3120", "call_status": status}
    [event] = parse(signed(wire(body)))
    assert event.kind is kind


def test_dialled_agent_leg_rings_and_answers_under_the_callers_call() -> None:
    ringing = one("child-ringing.json")
    assert (ringing.call_id, ringing.kind, ringing.ringing_extension) == (
        PARENT,
        EventKind.RINGING,
        "201",
    )
    answered = one("child-in-progress.json")
    assert (answered.call_id, answered.kind, answered.answered_by) == (
        PARENT,
        EventKind.ANSWERED,
        "201",
    )
    assert answered.direction is Direction.INBOUND  # the leg is outbound; the call came in
    assert answered.from_raw == "+31612345678"


def test_one_agent_not_answering_is_not_a_missed_call() -> None:
    assert parse(signed(fixture("child-no-answer.json"))) == []


@pytest.mark.parametrize("status", ["queued", "some-future-status"])
def test_untracked_statuses_are_ignored(status: str) -> None:
    assert parse(signed(wire({"call_sid": "c-1", "call_status": status}))) == []


def test_outbound_calls() -> None:
    body = {"call_sid": "c-1", "direction": "outbound", "call_status": "ringing"}
    [event] = parse(signed(wire(body)))
    assert (event.direction, event.from_raw, event.to_raw) == (Direction.OUTBOUND, "", "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"call_sid=x", "body is not valid JSON"),
        (b"[]", "body must be a JSON object; got array"),
        (wire({"call_status": "trying"}), '"call_sid" is required'),
        (
            wire({"call_sid": 42, "call_status": "trying"}),
            '"call_sid" must be a string; got number',
        ),
        (wire({"call_sid": "c-1"}), '"call_status" is required'),
        (wire({"call_sid": "c-1", "call_status": "trying", "from": ["x"]}), '"from" must be a'),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(signed(body))
    assert caught.value.message.startswith(message)


# --- responses ----------------------------------------------------------------------------


def test_call_hook_dials_a_sip_target_on_bridge() -> None:
    verbs = answer(signed(fixture("call-hook.json")), {"dial_target": "sip:201@pbx.example.org"})
    assert verbs == [
        {
            "verb": "dial",
            "answerOnBridge": True,
            "target": [{"type": "sip", "sipUri": "sip:201@pbx.example.org"}],
        }
    ]


def test_dial_target_kinds_and_limits() -> None:
    targets = "+31201234567, user:201@acme.sip.jambonz.cloud, sips:202@pbx, not a target"
    [dial] = answer(signed(fixture("call-hook.json")), {"dial_target": targets})
    assert dial["target"] == [
        {"type": "phone", "number": "+31201234567"},
        {"type": "user", "name": "201@acme.sip.jambonz.cloud"},
        {"type": "sip", "sipUri": "sips:202@pbx"},
    ]
    many = ",".join(f"sip:{n}@pbx" for n in range(200, 215))
    [dial] = answer(signed(fixture("call-hook.json")), {"dial_target": many})
    assert len(dial["target"]) == 10


def test_call_hook_can_hand_the_call_to_the_tenants_application() -> None:
    options = {"redirect_url": "https://ivr.acme.example/jambonz/call"}
    verbs = answer(signed(fixture("call-hook.json")), options)
    assert verbs == [{"verb": "redirect", "actionHook": "https://ivr.acme.example/jambonz/call"}]


@pytest.mark.parametrize(
    "options", [{}, {"redirect_url": "ftp://x"}, {"dial_target": " , nonsense"}]
)
def test_call_hook_without_a_route_declines_so_the_carrier_can_fail_over(
    options: dict[str, str],
) -> None:
    verbs = answer(signed(fixture("call-hook.json")), options)
    assert verbs == [DECLINE]
    assert verbs[0]["verb"] == "sip:decline" and 400 <= verbs[0]["status"] < 700


@pytest.mark.parametrize(
    "name", ["status-trying.json", "child-ringing.json", "child-no-answer.json"]
)
def test_status_callbacks_are_answered_with_an_empty_object(name: str) -> None:
    assert answer(signed(fixture(name)), {"dial_target": "sip:201@pbx"}) == {}


def test_call_hook_gets_its_verbs_even_when_ringing_is_filtered_out() -> None:
    config = AdapterConfig(
        secret=SECRET,
        events=frozenset({EventKind.ENDED}),
        options={"dial_target": "sip:201@pbx"},
    )
    request = signed(fixture("call-hook.json"))
    assert parse(request, config) == []
    response = adapter.respond(request, config, [], Outcome())
    assert json.loads(response.body)[0]["verb"] == "dial"


def test_fail_open_routes_the_call_hook_and_acknowledges_the_rest() -> None:
    config = AdapterConfig(secret=SECRET, options={"dial_target": "sip:201@pbx"})
    hook = adapter.fail_open(signed(fixture("call-hook.json")), config)
    assert json.loads(hook.body)[0]["verb"] == "dial"
    status = adapter.fail_open(signed(fixture("status-completed.json")), config)
    assert json.loads(status.body) == {}


def test_fail_open_treats_an_unreadable_request_as_the_call_hook() -> None:
    request = AdapterRequest("POST", URL, {}, b"\xff garbage")
    response = adapter.fail_open(request, AdapterConfig(secret=""))
    assert (response.status_code, json.loads(response.body)) == (200, [DECLINE])


class ExplodingOptions(Mapping[str, str]):
    """Options that fail on read, standing in for any bug behind fail_open."""

    def __getitem__(self, key: str) -> str:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def test_fail_open_never_raises() -> None:
    config = AdapterConfig(secret=SECRET, options=ExplodingOptions())
    response = adapter.fail_open(signed(fixture("call-hook.json")), config)
    assert (response.status_code, json.loads(response.body)) == (200, [DECLINE])


# --- jambonz's documentation and captures from jambonz systems ----------------------------


def test_every_event_carries_the_sip_user_number_style() -> None:
    events = [
        event
        for fx in vendor_fixtures.all_fixtures("jambonz")
        for event in parse(signed(wire(json.loads(fx.body))))
    ]
    assert len(events) >= 9
    assert {event.number_style for event in events} == {NumberStyle.SIP_USER}


def test_captured_call_hook_rings() -> None:
    event = one("capture-call-hook.json")
    assert event == CallEvent(
        provider="jambonz",
        call_id="ac5c697a-bfae-4335-ad8a-REDACTED",
        kind=EventKind.RINGING,
        from_raw="+447777777777",
        to_raw="+441234567890",
        direction=Direction.INBOUND,
        number_style=NumberStyle.SIP_USER,
        raw=event.raw,
    )
    verbs = answer(signed(fixture("capture-call-hook.json")), {"dial_target": "sip:201@pbx"})
    assert verbs[0]["verb"] == "dial"


def test_captured_dial_leg_answer_belongs_to_the_callers_call() -> None:
    event = one("capture-child-in-progress.json")
    assert (event.kind, event.call_id, event.direction, event.answered_by) == (
        EventKind.ANSWERED,
        "7e070cc2-6e28-4a24-9364-REDACTED",
        Direction.INBOUND,
        "+447777777777",
    )


def test_documented_completed_status_ends_without_proving_a_person() -> None:
    request = signed(fixture("docs-call-status-completed.json"))
    [event] = parse(request)
    # The application's own verbs answer a call too: completed proves no person.
    assert (event.kind, event.call_id, event.person_answered) == (
        EventKind.ENDED,
        "b5e39996-bd2f-4bda-b928-355147186a2a",
        None,
    )
    # It carries "defaults" like the call hook, yet it is a status: no verbs back.
    assert answer(request, {"dial_target": "sip:201@pbx"}) == {}


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_unconnected_final_statuses_prove_nobody_answered(status: str) -> None:
    body = wire({"call_sid": "c1", "from": "+31612345678", "to": "+31201234567",
                 "direction": "inbound", "call_status": status})  # fmt: skip
    [event] = parse(signed(body))
    assert (event.kind, event.person_answered) == (EventKind.MISSED, False)
