"""Kamailio adapter: the posted JSON events, the secret header, the HMAC variant's keys.

The fixtures are bodies that a real Kamailio 5.6 running docs/kamailio/kamailio.cfg posted
for sipp calls (the format is our config's: Kamailio has no webhooks of its own).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
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
from telephony_adapters.generic import sign_generic
from telephony_adapters.kamailio import (
    IGNORED_EVENTS,
    MAX_CALL_ID,
    KamailioAdapter,
    hmac_pads,
)
from telephony_adapters.registry import get_adapter
from tests.support import vendor_fixtures

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "kamailio" / "README.md"
SECRET = "kamailio-secret-of-acme"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
URL = "https://stamgast.example.org/webhooks/kamailio/acme"
CONFIG = AdapterConfig(secret=SECRET)

adapter = KamailioAdapter()


def request_for(body: bytes, *, secret: str | None = SECRET) -> AdapterRequest:
    """As the shipped config posts it: JSON and the secret header."""
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-stamgast-secret"] = secret
    return AdapterRequest("POST", URL, headers, body)


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("kamailio", name).body


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def one(document: Any, config: AdapterConfig = CONFIG) -> CallEvent:
    [event] = parse(request_for(encode(document)), config)
    return event


def invite(**fields: Any) -> CallEvent:
    """One invite from 0612345678 (unless `fields` say otherwise), parsed."""
    return one({"event": "invite", "call_id": "c", "from_user": "0612345678", **fields})


def payload_error(document: Any) -> str:
    body = document if isinstance(document, bytes) else encode(document)
    with pytest.raises(PayloadError) as caught:
        parse(request_for(body))
    return caught.value.message


def signature_error(request: AdapterRequest, config: AdapterConfig = CONFIG) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request, config)
    return caught.value.message


# --- the recorded events -----------------------------------------------------------------


def test_invite_is_ringing_with_every_field() -> None:
    [event] = parse(request_for(fixture("invite.json")))
    assert event == CallEvent(
        provider="kamailio",
        call_id="sg-a-1@127.0.0.1",
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="0331234567",
        direction=Direction.INBOUND,
        ringing_extension="201",
        caller_name='Ada "Ace" de Vries',  # $fn's quotes and escapes removed
        number_style=NumberStyle.SIP_USER,
        raw=event.raw,
    )
    assert event.raw["from_display"] == '"Ada \\"Ace\\" de Vries"'  # as Kamailio sent it


def test_a_percent_escaped_caller_arrives_unescaped_from_the_config() -> None:
    [event] = parse(request_for(fixture("invite-escaped.json")))
    assert (event.from_raw, event.to_raw) == ("0031 6 12345678", "033 1234567")
    assert event.caller_name is None  # the empty display name ""
    assert event.number_style is NumberStyle.SIP_USER


def test_a_hand_written_script_may_post_the_escaped_user_raw() -> None:
    """Left for the app, which decodes SIP user parts (the event says SIP_USER)."""
    event = invite(from_user="%2B31612345678")
    assert (event.from_raw, event.number_style) == ("%2B31612345678", NumberStyle.SIP_USER)


def test_anonymous_caller_with_a_pai_is_the_pai_kept_raw() -> None:
    [event] = parse(request_for(fixture("invite-anonymous-pai.json")))
    assert (event.kind, event.from_raw) == (EventKind.RINGING, "tel:+31-6-1234-5678")
    assert event.caller_name is None  # "Anonymous" says nothing
    assert event.raw["from_user"] == "anonymous"


def test_anonymous_caller_without_a_pai_stays_anonymous() -> None:
    [event] = parse(request_for(fixture("invite-anonymous.json")))
    assert (event.from_raw, event.caller_name) == ("anonymous", None)


def test_the_tenant_can_refuse_to_use_the_pai() -> None:
    config = AdapterConfig(secret=SECRET, options={"use_pai": "never"})
    [event] = parse(request_for(fixture("invite-anonymous-pai.json")), config)
    assert event.from_raw == "anonymous"


@pytest.mark.parametrize("from_user", ["", "Restricted", "unknown", "<null>"])
def test_any_from_without_a_digit_gives_way_to_the_pai(from_user: str) -> None:
    pai = "sip:+31612345678@carrier.example;user=phone"
    assert invite(from_user=from_user, pai=pai).from_raw == pai


def test_a_from_number_wins_over_the_pai() -> None:
    assert invite(pai="tel:+31201234567").from_raw == "0612345678"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("answered.json", EventKind.ANSWERED),
        ("bye.json", EventKind.ENDED),
        ("cancel.json", EventKind.MISSED),
        ("failed.json", EventKind.MISSED),
    ],
)
def test_the_other_recorded_events(name: str, kind: EventKind) -> None:
    [event] = parse(request_for(fixture(name)))
    assert event.kind is kind
    assert event.to_raw == "0331234567"
    assert event.from_raw in ("+31612345678", "0612345678")


@pytest.mark.parametrize("name", ["cancel.json", "failed.json"])
def test_a_missed_call_proves_nobody_answered(name: str) -> None:
    """Posted on CANCEL, or from failure_route once no branch is left: no 200 was relayed."""
    [event] = parse(request_for(fixture(name)))
    assert (event.kind, event.person_answered) == (EventKind.MISSED, False)


@pytest.mark.parametrize("name", ["invite.json", "answered.json", "bye.json"])
def test_other_events_do_not_say_whether_a_person_answered(name: str) -> None:
    [event] = parse(request_for(fixture(name)))
    assert event.person_answered is None
    assert event.number_style is NumberStyle.SIP_USER


def test_answered_names_who_answered() -> None:
    [event] = parse(request_for(fixture("answered.json")))
    assert (event.answered_by, event.ringing_extension) == ("201", "201")


def test_a_failed_call_keeps_its_sip_status() -> None:
    [event] = parse(request_for(fixture("failed.json")))
    assert event.raw["status"] == "486"


def test_answered_by_counts_only_on_answered() -> None:
    event = one({"event": "bye", "call_id": "c", "from_user": "0612345678", "answered_by": "201"})
    assert event.answered_by is None


def test_ringing_is_an_alias_for_invite() -> None:
    assert invite(event="ringing").kind is EventKind.RINGING


def test_a_bye_needs_no_caller() -> None:
    event = one({"event": "bye", "call_id": "c"})
    assert (event.kind, event.from_raw, event.to_raw) == (EventKind.ENDED, "", "")


def test_null_markers_and_json_nulls_count_as_absent() -> None:
    event = invite(from_display="<null>", pai="<null>", extension=None, to_user="")
    assert (event.caller_name, event.ringing_extension, event.to_raw) == (None, None, "")


def test_an_unquoted_display_name_and_one_equal_to_the_number() -> None:
    assert invite(from_display="Ada").caller_name == "Ada"
    assert invite(from_display='"0612345678"').caller_name is None


def test_direction() -> None:
    assert invite(direction="internal").direction is Direction.INTERNAL
    refused = payload_error({"event": "bye", "call_id": "c", "direction": "sideways"})
    assert refused == '"direction" must be one of inbound, outbound, internal; got "sideways"'


def test_a_long_call_id_is_hashed_the_same_way_every_time() -> None:
    long_id = "x" * (MAX_CALL_ID + 1) + "@pbx.example"
    first = one({"event": "invite", "call_id": long_id, "from_user": "0612345678"})
    second = one({"event": "bye", "call_id": long_id})
    hashed = "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    assert first.call_id == second.call_id == hashed
    assert len(first.call_id) <= MAX_CALL_ID
    exact = "y" * MAX_CALL_ID
    assert one({"event": "bye", "call_id": exact}).call_id == exact


# --- ignored and refused bodies ----------------------------------------------------------


@pytest.mark.parametrize("name", [*sorted(IGNORED_EVENTS), "ACK", "ReInvite"])
def test_ignored_events_parse_to_nothing(name: str) -> None:
    assert parse(request_for(encode({"event": name, "call_id": "c"}))) == []


def test_the_tenants_event_filter_applies() -> None:
    config = AdapterConfig(secret=SECRET, events=frozenset({EventKind.RINGING}))
    assert parse(request_for(fixture("cancel.json")), config) == []
    assert len(parse(request_for(fixture("invite.json")), config)) == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff", "body is not valid JSON"),
        ([{"event": "bye", "call_id": "c"}], "body must be one JSON object; got array"),
        ({"call_id": "c"}, '"event" must be one of invite, ringing, answered, cancel, failed'),
        ({"event": "hangup", "call_id": "c"}, 'got "hangup"'),
        ({"event": "bye"}, '"call_id" is required: post the SIP Call-ID ($ci)'),
        ({"event": "bye", "call_id": "<null>"}, '"call_id" is required'),
        ({"event": "invite", "call_id": "c"}, '"from_user" is required for "invite"'),
        ({"event": "bye", "call_id": 42}, '"call_id" must be a string; got number'),
        ({"event": ["bye"], "call_id": "c"}, '"event" must be a string; got array'),
        (
            {"event": "bye", "call_id": "c", "from_user": "1" * 129},
            "at most 128 characters; got 129",
        ),
    ],
)
def test_malformed_bodies_say_what_is_wrong(document: Any, message: str) -> None:
    assert message in payload_error(document)


# --- authentication ----------------------------------------------------------------------


def test_a_missing_secret_header_is_refused() -> None:
    message = signature_error(request_for(fixture("invite.json"), secret=None))
    assert message == (
        "missing X-Stamgast-Secret header (or X-Stamgast-Signature with X-Stamgast-Timestamp)"
    )


@pytest.mark.parametrize("offered", ["someone-else", SECRET + "x", SECRET[:-1], ""])
def test_a_wrong_secret_is_refused(offered: str) -> None:
    message = signature_error(request_for(fixture("invite.json"), secret=offered))
    assert message == (
        "X-Stamgast-Secret does not match the secret set with PUT /v1/providers/kamailio"
    )


def test_an_empty_configured_secret_accepts_nothing() -> None:
    assert "does not match" in signature_error(
        request_for(fixture("invite.json"), secret=""), AdapterConfig(secret="")
    )


def _signed(body: bytes, *, secret: str = SECRET, stamp: int | None = None) -> AdapterRequest:
    headers = sign_generic(secret, body, int(NOW.timestamp()) if stamp is None else stamp)
    lowered = {name.lower(): value for name, value in headers.items()}
    return AdapterRequest("POST", URL, {"content-type": "application/json", **lowered}, body)


def test_the_hmac_variant_is_accepted() -> None:
    [event] = parse(_signed(fixture("invite.json")))
    assert event.from_raw == "+31612345678"


def test_the_hmac_variant_covers_body_and_time() -> None:
    body = fixture("invite.json")
    altered = _signed(body)
    altered = AdapterRequest("POST", URL, altered.headers, body.replace(b"+3161", b"+3162"))
    assert "does not match" in signature_error(altered)
    assert "does not match" in signature_error(_signed(body, secret="someone-else"))
    assert "301 s old" in signature_error(_signed(body, stamp=int(NOW.timestamp()) - 301))


def test_a_signature_is_checked_even_next_to_the_right_secret_header() -> None:
    body = fixture("invite.json")
    forged = _signed(body, secret="someone-else")
    both = AdapterRequest("POST", URL, {**forged.headers, "x-stamgast-secret": SECRET}, body)
    assert "X-Stamgast-Signature does not match" in signature_error(both)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    assert signature_error(request_for(b"{not json", secret="wrong"))


@pytest.mark.parametrize("secret", ["kort-maar", "s3cr6t\\-with-pad-bytes", "é" * 40, "k" * 200])
def test_hmac_pads_give_the_hmac_of_the_secret(secret: str) -> None:
    """What the config computes from the pads: sha256(outer + sha256(inner + message))."""
    inner, outer = hmac_pads(secret)
    message = b'1795617375.{"event":"invite"}'
    step = hashlib.sha256(bytes.fromhex(inner) + message).digest()
    by_pads = hashlib.sha256(bytes.fromhex(outer) + step).hexdigest()
    assert by_pads == hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    assert len(inner) == len(outer) == 128


def test_the_readmes_pad_command_agrees_with_hmac_pads() -> None:
    """The README gives a python3 one-liner for hosts without Stamgast installed."""
    found = re.search(r"^(python3 -c '.*') \"\$STAMGAST_SECRET\"$", README.read_text(), re.M)
    assert found is not None, "README lost its pad command"
    command = shlex.split(found.group(1))
    command[0] = sys.executable
    output = subprocess.run(
        [*command, "s3cr6t\\-x"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    inner, outer = hmac_pads("s3cr6t\\-x")
    assert output.split() == [f'WEBHOOK_HMAC_IPAD="{inner}"', f'WEBHOOK_HMAC_OPAD="{outer}"']


# --- responses and registry --------------------------------------------------------------


def test_respond_and_fail_open_are_the_same_small_ok() -> None:
    request = request_for(fixture("invite.json"))
    events = parse(request)
    for answer in (
        adapter.respond(request, CONFIG, events, Outcome(recognised_name="Ada")),
        adapter.fail_open(request, CONFIG),
    ):
        assert (answer.status_code, answer.media_type) == (200, "application/json")
        assert json.loads(answer.body) == {"ok": True}


def test_registered() -> None:
    assert isinstance(get_adapter("kamailio"), KamailioAdapter)
