"""Vonage adapter: recorded bodies, parsing and NCCO answers.

The JWT signatures are in test_vonage_signature.py; shared helpers in vonage_helpers.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
    PayloadError,
)
from tests.adapters.cases_vonage import agent_mark
from tests.adapters.vonage_helpers import (
    AGENT_URL,
    CON,
    CONFIG,
    SECRET,
    URL,
    adapter,
    answer_get,
    fixture,
    parse,
    parse_one,
    post,
)
from tests.support import vendor_fixtures


def with_fields(name: str, **fields: Any) -> bytes:
    return json.dumps({**json.loads(fixture(name)), **fields}).encode()


# --- parsing ------------------------------------------------------------------------------


def test_answer_get_and_post_are_ringing() -> None:
    params = json.loads(fixture("answer.json"))
    via_get = parse_one(answer_get(params))
    via_post = parse_one(post(fixture("answer.json")))
    for event in (via_get, via_post):
        assert (event.call_id, event.kind, event.direction) == (CON, EventKind.RINGING, "inbound")
        assert (event.from_raw, event.to_raw) == ("31612345678", "31331234567")
        assert event.raw["SipHeader_X-UserId"] == "1938ND9"


def test_documented_answer_webhook_get_and_post() -> None:
    documented = vendor_fixtures.load("vonage", "answer-get.txt")
    assert documented.method == "GET" and documented.url
    query = documented.url.split("?", 1)[1]
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    via_get = parse_one(answer_get(params))
    via_post = parse_one(post(fixture("answer-post.json")))
    for event in (via_get, via_post):
        assert (event.call_id, event.kind) == (CON, EventKind.RINGING)
        assert event.number_style is NumberStyle.E164  # "442079460000": E.164 without "+"
    # The two documented examples swap from and to; each event keeps what it was sent.
    assert (via_get.from_raw, via_get.to_raw) == ("447700900000", "442079460000")
    assert (via_post.from_raw, via_post.to_raw) == ("442079460000", "447700900000")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("started", EventKind.RINGING),
        ("ringing", EventKind.RINGING),
        ("answered", EventKind.ANSWERED),  # Vonage picking up to run the NCCO: see below
        ("completed", EventKind.ENDED),
        ("busy", EventKind.MISSED),
        ("cancelled", EventKind.MISSED),
        ("unanswered", EventKind.MISSED),
        ("rejected", EventKind.MISSED),
        ("failed", EventKind.MISSED),
        ("timeout", EventKind.MISSED),
        ("disconnected", None),  # a WebSocket went away, not the call
        ("human", None),
        ("teleported", None),
    ],
)
def test_caller_leg_status_mapping(status: str, kind: EventKind | None) -> None:
    events = parse(post(with_fields("ringing.json", status=status)))
    assert [event.kind for event in events] == ([kind] if kind else [])
    for event in events:
        assert event.by_application is (status == "answered")
        if kind is EventKind.MISSED:
            assert event.person_answered is False  # the caller's leg was never answered


def test_caller_leg_answered_is_vonage_running_the_ncco() -> None:
    event = parse_one(post(fixture("answered-inbound.json")))
    assert (event.kind, event.by_application, event.answered_by) == ("answered", True, None)


@pytest.mark.parametrize(
    ("status", "kind", "person"),
    [
        ("ringing", EventKind.RINGING, None),
        ("answered", EventKind.ANSWERED, None),
        # Our user's call nobody took is over for us, not a missed call.
        ("unanswered", EventKind.ENDED, False),
    ],
)
def test_outbound_call_leg(status: str, kind: EventKind, person: bool | None) -> None:
    event = parse_one(post(with_fields("agent-ringing.json", to="31201234567", status=status)))
    assert (event.kind, event.direction, event.answered_by) == (kind, "outbound", None)
    assert (event.by_application, event.person_answered) == (False, person)


def test_documented_outbound_call() -> None:
    names = ["started", "ringing", "answered", "completed"]
    events = [parse_one(post(fixture(f"outbound-{name}.json"))) for name in names]
    assert [e.kind for e in events] == ["ringing", "ringing", "answered", "ended"]
    for event in events:
        # From our Vonage number to the person called, as Vonage's reference shows it.
        assert (event.from_raw, event.to_raw) == ("442079460000", "447700900000")
        assert (event.direction, event.number_style) == (Direction.OUTBOUND, NumberStyle.E164)
        assert event.ringing_extension is None  # Vonage names no extension for API calls
    assert events[2].by_application is False  # the person called picked up
    assert events[3].person_answered is True  # "duration": "2" on the called person's leg
    zero = parse_one(post(with_fields("outbound-completed.json", duration="0")))
    assert zero.person_answered is False
    for name in ("outbound-unanswered.json", "outbound-busy.json"):
        unanswered = parse_one(post(fixture(name)))
        assert (unanswered.kind, unanswered.direction) == (EventKind.ENDED, Direction.OUTBOUND)
        assert unanswered.person_answered is False


def test_tutorial_call_application_answers_then_app_user_alice() -> None:
    """The real call in Vonage's phone-to-app tutorial: the caller, then app user Alice."""
    conversation = "CON-3567680b-a4b4-43ac-9cc7-1d3b4a958e5c"
    ringing, started, answered, completed = (
        parse_one(post(fixture(f"tutorial-{name}.json")))
        for name in ("ringing", "started", "answered", "completed")
    )
    for event in (ringing, started, answered, completed):
        assert (event.call_id, event.direction) == (conversation, Direction.INBOUND)
        assert (event.from_raw, event.to_raw) == ("447000000000", "447441444905")
        assert event.number_style is NumberStyle.E164
    assert (ringing.kind, started.kind) == (EventKind.RINGING, EventKind.RINGING)
    # The inbound leg's "answered" is Vonage answering into the NCCO, not a person.
    assert (answered.kind, answered.by_application, answered.answered_by) == (
        "answered",
        True,
        None,
    )
    # Its duration ("11") counts from Vonage's answer: it proves nothing about a person.
    assert (completed.kind, completed.person_answered) == (EventKind.ENDED, None)
    # The connect action's leg to app user Alice (to: "Alice", direction outbound, no marker).
    alice_rings = parse_one(post(fixture("tutorial-agent-started.json")))
    assert (alice_rings.kind, alice_rings.ringing_extension) == (EventKind.RINGING, "Alice")
    alice = parse_one(post(fixture("tutorial-agent-answered.json")))
    assert (alice.call_id, alice.kind, alice.answered_by) == (conversation, "answered", "Alice")
    assert (alice.direction, alice.by_application) == (Direction.INBOUND, False)
    assert parse(post(fixture("tutorial-agent-completed.json"))) == []  # the caller's leg ends it


@pytest.mark.parametrize(
    "fixture_file", vendor_fixtures.all_fixtures("vonage"), ids=lambda f: f.path.name
)
def test_every_event_says_numbers_are_e164(fixture_file: vendor_fixtures.VendorFixture) -> None:
    if fixture_file.method == "GET":
        return  # the GET answer webhook is covered above
    for url in (URL, AGENT_URL):
        for event in parse(post(fixture_file.body, url=url)):
            assert event.number_style is NumberStyle.E164


def test_agent_leg_names_the_agent() -> None:
    rung = parse_one(post(fixture("agent-ringing.json"), url=AGENT_URL))
    assert (rung.call_id, rung.kind, rung.ringing_extension) == (CON, EventKind.RINGING, "201")
    answered = parse_one(post(fixture("agent-answered.json"), url=AGENT_URL))
    assert (answered.kind, answered.answered_by, answered.direction) == (
        "answered",
        "201",
        "inbound",
    )
    assert answered.raw["uuid"] != parse_one(post(fixture("ringing.json"))).raw["uuid"]


@pytest.mark.parametrize("name", ["agent-unanswered.json", "completed.json"])
def test_agent_leg_ends_are_not_the_calls_end(name: str) -> None:
    assert parse(post(with_fields(name, direction="outbound"), url=AGENT_URL)) == []


def test_call_events_share_the_conversation() -> None:
    names = ["started.json", "ringing.json", "completed.json"]
    events = [parse_one(post(fixture(name))) for name in names]
    assert {event.call_id for event in events} == {CON}
    assert events[2].occurred_at == datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
    assert events[2].raw["duration"] == "180"


@pytest.mark.parametrize("name", ["record.json", "input.json"])
def test_events_we_do_not_track_are_ignored_and_answered(name: str) -> None:
    request = post(fixture(name))
    assert parse(request) == []
    response = adapter.respond(request, CONFIG, [], Outcome())
    assert (response.status_code, response.body) == (204, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"status=ringing", "body is not valid JSON"),
        (b'["ringing"]', "body must be a JSON object"),
        (
            json.dumps({"status": "ringing", "from": "3161"}).encode(),
            '"conversation_uuid" is required',
        ),
        (json.dumps({"status": 7, "conversation_uuid": CON}).encode(), '"status" must be a string'),
        (
            json.dumps({"status": "ringing", "conversation_uuid": "C" * 129}).encode(),
            "at most 128 characters",
        ),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(post(body))


def test_odd_timestamp_is_dropped_not_fatal() -> None:
    assert parse_one(post(with_fields("ringing.json", timestamp="soon"))).occurred_at is None


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=SECRET, events=frozenset({EventKind.ENDED}))
    assert parse(post(fixture("ringing.json")), config) == []
    assert parse_one(post(fixture("completed.json")), config).kind is EventKind.ENDED


# --- NCCO answers -------------------------------------------------------------------------


def ncco(options: dict[str, str], request: AdapterRequest | None = None, **config: Any) -> Any:
    request = request or answer_get(json.loads(fixture("answer.json")))
    settings = AdapterConfig(secret=SECRET, options=options, **config)
    response = adapter.respond(request, settings, parse(request, settings), Outcome())
    assert (response.status_code, response.media_type) == (200, "application/json")
    return json.loads(response.body)


def test_default_ncco_holds_the_caller_in_a_room_of_their_own() -> None:
    assert ncco({}) == [
        {"action": "conversation", "name": f"stamgast-{CON}", "startOnEnter": False}
    ]
    music = ncco({"music_on_hold_url": "https://example.org/hold.mp3"})[0]
    assert music["musicOnHoldUrl"] == ["https://example.org/hold.mp3"]


def test_connect_to_a_sip_endpoint_marks_the_agent_leg() -> None:
    options = {"connect_endpoint": "sip:queue@pbx.example.org", "connect_from": "+31331234567"}
    assert ncco(options) == [
        {
            "action": "connect",
            "endpoint": [{"type": "sip", "uri": "sip:queue@pbx.example.org"}],
            "eventUrl": [AGENT_URL],
            "from": "31331234567",
        }
    ]
    behind_proxy = ncco(options, public_base_url="https://calls.example.com/stamgast")
    assert behind_proxy[0]["eventUrl"] == [
        "https://calls.example.com/stamgast/webhooks/vonage/acme"
        f"?stamgast_leg={agent_mark(SECRET, CON)}"
    ]


def test_our_marked_event_url_makes_the_connect_leg_an_agents() -> None:
    """Round trip: the eventUrl our NCCO gives Vonage, then the agent's leg posting to it."""
    [connect] = ncco({"connect_endpoint": "+31201234567"})
    [event_url] = connect["eventUrl"]
    body = with_fields("agent-answered.json", to="31201234567")  # a phone: no address to go by
    event = parse_one(post(body, url=event_url))
    assert (event.kind, event.answered_by, event.direction) == (
        EventKind.ANSWERED,
        "31201234567",
        Direction.INBOUND,
    )
    # Another conversation's answer gets another mark.
    params = {**json.loads(fixture("answer.json")), "conversation_uuid": "CON-other"}
    [other] = ncco({"connect_endpoint": "+31201234567"}, answer_get(params))
    assert other["eventUrl"] == [f"{URL}?stamgast_leg={agent_mark(SECRET, 'CON-other')}"]


def test_nothing_is_marked_without_a_secret_or_a_conversation() -> None:
    options = {"connect_endpoint": "+31201234567"}
    # fail_open before the tenant is known: still a valid NCCO, the leg simply unmarked.
    request = answer_get(json.loads(fixture("answer.json")))
    response = adapter.fail_open(request, AdapterConfig("", options=options))
    assert json.loads(response.body) == [
        {"action": "connect", "endpoint": [{"type": "phone", "number": "31201234567"}]}
    ]
    config = AdapterConfig(secret=SECRET, options=options)
    nameless = adapter.fail_open(AdapterRequest("POST", URL, {}, b"{}"), config)
    [connect] = json.loads(nameless.body)
    assert "eventUrl" not in connect


@pytest.mark.parametrize(
    ("target", "endpoint"),
    [
        ("+31201234567", {"type": "phone", "number": "31201234567"}),
        ("app:alice", {"type": "app", "user": "alice"}),
    ],
)
def test_connect_to_phone_or_app(target: str, endpoint: dict[str, str]) -> None:
    assert ncco({"connect_endpoint": target})[0]["endpoint"] == [endpoint]


CUSTOM_AGENT_URL = f"{URL}?queue=sales&stamgast_leg=agent"  # as the tenant writes it
CUSTOM_NCCO: list[dict[str, Any]] = [
    {"action": "talk", "text": "Een moment"},
    {
        "action": "connect",
        "endpoint": [{"type": "phone", "number": "31201234567"}],
        "eventUrl": [CUSTOM_AGENT_URL, "https://elsewhere.example/x"],
    },
    {"action": "notify", "payload": {}, "eventUrl": [f"{URL}?stamgast_leg=agent"]},
]


def test_custom_ncco_connect_marker_is_signed_for_the_conversation() -> None:
    answered = ncco({"ncco": json.dumps(CUSTOM_NCCO)})
    mark = agent_mark(SECRET, CON)
    assert answered[1]["eventUrl"] == [
        f"{URL}?queue=sales&stamgast_leg={mark}",
        "https://elsewhere.example/x",
    ]
    assert [answered[0], answered[2]] == [CUSTOM_NCCO[0], CUSTOM_NCCO[2]]  # not connects
    params = {**json.loads(fixture("answer.json")), "conversation_uuid": "CON-other"}
    other = ncco({"ncco": json.dumps(CUSTOM_NCCO)}, answer_get(params))
    assert (
        other[1]["eventUrl"][0]
        == f"{URL}?queue=sales&stamgast_leg={agent_mark(SECRET, 'CON-other')}"
    )
    # The signed URL makes the connect leg an agent's; the one written in the option does not.
    body = with_fields("agent-answered.json", to="31201234567")
    assert parse_one(post(body, url=answered[1]["eventUrl"][0])).answered_by == "31201234567"
    assert parse_one(post(body, url=CUSTOM_AGENT_URL)).answered_by is None
    # Without the secret (fail_open) the tenant's NCCO goes out as written.
    unsigned = adapter.fail_open(
        answer_get(json.loads(fixture("answer.json"))),
        AdapterConfig("", options={"ncco": json.dumps(CUSTOM_NCCO)}),
    )
    assert json.loads(unsigned.body) == CUSTOM_NCCO


def test_custom_ncco_and_invalid_options_fall_back() -> None:
    custom = [{"action": "talk", "text": "Een moment"}, {"action": "connect", "endpoint": []}]
    assert ncco({"ncco": json.dumps(custom)}) == custom
    for options in ({"ncco": "[]"}, {"ncco": "{"}, {"connect_endpoint": "the queue"}):
        assert ncco(options)[0]["action"] == "conversation"


def test_answer_even_when_ringing_is_filtered_out() -> None:
    assert ncco({"connect_endpoint": "app:alice"}, events=frozenset({EventKind.ENDED}))


@pytest.mark.parametrize("options", [{"connect_endpoint": "app:alice"}, {"ncco": "{"}, None])
def test_fail_open_never_raises(options: Any) -> None:
    config = AdapterConfig(secret=SECRET, options=options)
    for request in (
        answer_get(json.loads(fixture("answer.json"))),
        AdapterRequest("POST", URL, {"content-type": "application/json"}, b"\xff{{"),
        AdapterRequest("GET", "::not a url::", {}, b""),
    ):
        response = adapter.fail_open(request, config)
        assert (response.status_code, response.media_type) == (200, "application/json")
        [action] = json.loads(response.body)
        assert action["action"] in ("connect", "conversation")
    event = adapter.fail_open(post(fixture("completed.json")), config)
    assert (event.status_code, event.body) == (204, b"")
