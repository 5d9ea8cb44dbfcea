"""Twilio Programmable Voice: voice URL, status callbacks and `<Dial action>` requests.

What each request becomes (the TwiML that asks for them is in `twilio_twiml`):

- voice URL (``CallStatus=ringing``) → RINGING; an inbound ``in-progress`` means Twilio
  itself answered to run TwiML → ANSWERED ``by_application``.
- a dialled leg's report (has ``ParentCallSid``), on the parent call: ringing → RINGING at
  the agent in its ``To`` (``client:alice`` → alice, ``sip:201@…`` → 201); answered → ANSWERED
  by that agent; completed → ENDED if the leg was answered, nothing if it rang out (another
  agent may have answered). A leg from an agent (``From=client:…``) to a number is outbound.
- ``<Dial action>`` (``DialCallStatus``) → ENDED with ``person_answered=True``, or MISSED (inbound)
  / ENDED (outbound) with ``person_answered=False``.
- the call's own status callback: inbound ``completed`` → ENDED, ``person_answered`` unknown
  (Twilio reports it whether or not anyone picked up); an ``outbound-api`` call's leg is the
  person called, so its ``completed`` does say (unless a machine answered).

Signature: ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, URL + sorted name+value of
the POST params)). JSON bodies are covered by ``bodySHA256=<hex>`` in the signed URL instead
of the params. A Webhooks Rule may switch the hash to HMAC-SHA256 with a SharedKey (announced in
``X-Twilio-Webhooks-Signature-Settings``); the tenant's secret is then that SharedKey's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit, urlunsplit

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    AdapterResponse,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
    PayloadError,
    SignatureError,
    in_utc,
    parse_json,
    select_events,
    url_for_signature,
)
from telephony_adapters.twilio_twiml import (
    DIAL_ANSWERED,
    LAST_RESORT_TWIML,
    target_answers_as_application,
    twiml_for,
)
from telephony_adapters.twilio_twiml import (
    check_options as check_options,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_HASHES = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_DEFAULT_PORTS = {"http": 80, "https": 443}

# A status value names a leg's stage; the final ones say whether the leg was answered.
_STAGES = {
    "queued": "ringing",
    "initiated": "ringing",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "final",
    "busy": "final",
    "no-answer": "final",
    "canceled": "final",
    "failed": "final",
}
_CALLBACK_STAGES = {
    "initiated": "ringing",
    "ringing": "ringing",
    "answered": "answered",
    "completed": "final",
}
_UNANSWERED = frozenset({"busy", "no-answer", "canceled", "failed"})
_DIAL_STATUSES = DIAL_ANSWERED | _UNANSWERED
_DIRECTIONS = {
    "inbound": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}


def url_variants(url: str) -> list[str]:
    """The URL, then without its port or with the scheme's default port: the SDK's twins."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is not None:
        # Twilio's validator also accepts any port stripped ("sig generation on back end is
        # inconsistent"); a port is no secret, and host, path and params stay signed.
        netloc = f"{userinfo}{at}{hostport[: hostport.rfind(':')]}"
    else:
        default = _DEFAULT_PORTS.get(parts.scheme.lower())
        if default is None:
            return [url]
        netloc = f"{userinfo}{at}{hostport}:{default}"
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def twilio_signature(
    secret: str, url: str, params: Mapping[str, Sequence[str]], algorithm: str = "HMAC_SHA1"
) -> str:
    """Base64 HMAC of the URL followed by each param's name+value, names sorted."""
    text = url
    # Twilio's own validator sorts names, then sorts and de-duplicates each name's values.
    for name in sorted(params):
        for value in sorted(set(params[name])):
            text += name + value
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), _HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def _algorithm(request: AdapterRequest) -> str:
    settings = request.headers.get(SETTINGS_HEADER.lower(), "")
    for part in settings.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            if algorithm not in _HASHES:
                shown = json.dumps(value.strip()[:40])
                raise SignatureError(f"{SETTINGS_HEADER} names an unsupported algorithm {shown}")
            return algorithm
    return "HMAC_SHA1"


def _is_json(request: AdapterRequest) -> bool:
    media = request.content_type
    return media == "application/json" or media.endswith("+json")


def _signed_params(request: AdapterRequest, url: str) -> dict[str, list[str]]:
    """The params the signature covers; checks bodySHA256 for JSON bodies."""
    if request.method.upper() in ("GET", "HEAD"):
        return {}  # the params are in the query, already part of the URL
    if not _is_json(request):
        return request.form()
    claimed = parse_qs(urlsplit(url).query).get("bodySHA256")
    if not claimed:
        # Without it nothing would cover the JSON body: refuse rather than trust it unsigned.
        raise SignatureError("JSON body but the URL has no bodySHA256 parameter")
    actual = hashlib.sha256(request.body).hexdigest()
    if not hmac.compare_digest(actual.encode("ascii"), claimed[0].encode("utf-8")):
        raise SignatureError("body does not match the URL's bodySHA256 (altered in transit?)")
    return {}


def verify_twilio(request: AdapterRequest, config: AdapterConfig) -> None:
    """Check X-Twilio-Signature as Twilio computes it; raises SignatureError."""
    signature = request.headers.get(SIGNATURE_HEADER.lower())
    if signature is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    algorithm = _algorithm(request)
    url = url_for_signature(request, config)
    params = _signed_params(request, url)
    offered = signature.strip().encode("utf-8")
    matched = False
    for candidate in url_variants(url):
        expected = twilio_signature(config.secret, candidate, params, algorithm)
        matched |= hmac.compare_digest(expected.encode("ascii"), offered)
    if not matched:
        # The URL is the usual culprit behind a proxy: show the one we checked.
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match for URL {url} (wrong auth token, or Twilio "
            "called another URL: set the public base URL to the one configured in Twilio)"
        )


def _fields(request: AdapterRequest) -> dict[str, str]:
    """The vendor's fields, flat: the query for GET, else the form or JSON body."""
    if request.method.upper() in ("GET", "HEAD"):
        multi = request.query()
    elif _is_json(request):
        document = parse_json(request.body)
        if not isinstance(document, dict):
            raise PayloadError("JSON body must be an object of Twilio fields")
        return {
            str(key): value if isinstance(value, str) else json.dumps(value)
            for key, value in document.items()
        }
    else:
        multi = request.form()
    return {name: values[0] for name, values in multi.items() if values}


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        # An odd optional timestamp must not cost us the event.
        return None
    try:
        # A naive result is RFC 2822's "-0000": UTC with unknown origin.
        return in_utc(parsed, "Timestamp")
    except PayloadError:
        return None  # as odd, and year 9999 would break the call's times further on


def agent_from_address(address: str) -> str:
    """The agent in a `<Dial>` leg's To: `client:alice` → alice, `sip:101@pbx` → 101."""
    lowered = address.lower()
    if lowered.startswith("client:"):
        return address[len("client:") :]
    for scheme in ("sip:", "sips:"):
        if lowered.startswith(scheme):
            user = address[len(scheme) :].split(";", 1)[0]
            return user.split("@", 1)[0] if "@" in user else user
    return address


def _agent_caller(address: str) -> str | None:
    """The agent placing a call from `address` (a client or SIP phone), None for a number."""
    if not address.lower().startswith(("client:", "sip:", "sips:")):
        return None
    agent = agent_from_address(address)
    # A trunk caller arrives as sip:+3161…@carrier: a person outside, not an agent.
    return None if not agent or agent.startswith("+") else agent


def _stage(fields: Mapping[str, str]) -> str | None:
    """ringing / answered / final for this leg, or None for a status we do not track."""
    event = fields.get("StatusCallbackEvent", "").strip().lower()
    if event:
        return _CALLBACK_STAGES.get(event)
    return _STAGES.get(fields.get("CallStatus", "").strip().lower())


def _leg_answered(fields: Mapping[str, str]) -> bool | None:
    """A leg that ends "completed" was picked up; unanswered ones end busy, no-answer…"""
    status = fields.get("CallStatus", "").strip().lower()
    return True if status == "completed" else False if status in _UNANSWERED else None


def _machine(fields: Mapping[str, str]) -> bool:
    """Answering-machine detection says a machine or fax took the call."""
    return fields.get("AnsweredBy", "").strip().lower().startswith(("machine", "fax"))


def _parent_event(fields: Mapping[str, str], stage: str, base: CallEvent) -> CallEvent:
    """The call itself: the voice URL request, the number's or REST call's status callbacks."""
    outbound = base.direction is Direction.OUTBOUND
    if stage == "ringing":
        agent = _agent_caller(base.from_raw) if outbound else None
        return replace(base, kind=EventKind.RINGING, ringing_extension=agent)
    if stage == "answered":
        # Inbound, Twilio itself answers to run the TwiML; outbound, the person called did.
        return replace(
            base, kind=EventKind.ANSWERED, by_application=not outbound or _machine(fields)
        )
    answered = _leg_answered(fields)
    if outbound:
        # The REST call's own leg is the person called: "completed" means they picked up.
        person = False if _machine(fields) else answered
        return replace(base, kind=EventKind.ENDED, person_answered=person)
    if answered is False:
        return replace(base, kind=EventKind.MISSED, person_answered=False)
    # An inbound call "completed" whether or not anyone picked up: it does not say.
    return replace(base, kind=EventKind.ENDED)


def _child_event(
    fields: Mapping[str, str], stage: str, base: CallEvent, *, target_is_application: bool
) -> CallEvent | None:
    """A `<Dial>` leg, reported on its parent call."""
    caller_agent = _agent_caller(base.from_raw)
    if base.to_raw.lower().startswith(("client:", "sip:", "sips:")) or caller_agent is None:
        # The leg rings an agent (or our dial_target number) for the caller in From.
        agent = agent_from_address(base.to_raw) or None
        leg = replace(base, direction=Direction.INTERNAL if caller_agent else Direction.INBOUND)
        if stage == "ringing":
            return replace(leg, kind=EventKind.RINGING, ringing_extension=agent)
        if stage == "answered":
            return replace(
                leg,
                kind=EventKind.ANSWERED,
                answered_by=agent,
                by_application=target_is_application,
            )
        answered = _leg_answered(fields)
        if answered is False:
            return None  # one rung agent not answering says nothing: others may have
        person = None if target_is_application else answered
        return replace(leg, kind=EventKind.ENDED, answered_by=agent, person_answered=person)
    # An agent's client or phone dialling a number: the leg is the person called.
    leg = replace(base, direction=Direction.OUTBOUND, ringing_extension=caller_agent)
    if stage == "ringing":
        return replace(leg, kind=EventKind.RINGING)
    if stage == "answered":
        return replace(leg, kind=EventKind.ANSWERED, by_application=_machine(fields))
    reached = False if _machine(fields) else _leg_answered(fields)
    return replace(leg, kind=EventKind.ENDED, person_answered=reached)


def _dial_action_event(
    dial_status: str, base: CallEvent, *, target_is_application: bool
) -> CallEvent | None:
    """The `<Dial action>` request: the dial is over, DialCallStatus says how it went."""
    if dial_status not in _DIAL_STATUSES:
        return None
    if dial_status in DIAL_ANSWERED:
        # A target that answers as an application (PBX queue) proves no person picked up.
        person = None if target_is_application else True
        return replace(base, kind=EventKind.ENDED, person_answered=person)
    if base.direction is Direction.OUTBOUND:
        # The person called did not pick up: an unanswered outbound call, not a missed one.
        return replace(base, kind=EventKind.ENDED, person_answered=False)
    return replace(base, kind=EventKind.MISSED, person_answered=False)


def twilio_event(
    fields: Mapping[str, str], *, target_is_application: bool = False
) -> CallEvent | None:
    """The CallEvent for one request's fields, or None for a status we do not track."""
    call_sid = fields.get("CallSid", "").strip()
    if not call_sid:
        raise PayloadError('"CallSid" is required (the Twilio call id, "CA…")')
    parent_sid = fields.get("ParentCallSid", "").strip()
    base = CallEvent(
        provider=TwilioAdapter.name,
        call_id=parent_sid or call_sid,
        kind=EventKind.RINGING,  # each branch below sets the real one
        # client:alice and sip: values stay raw: the number parser reads them.
        from_raw=fields.get("From") or fields.get("Caller") or "",
        to_raw=fields.get("To") or fields.get("Called") or "",
        direction=_DIRECTIONS.get(fields.get("Direction", "").strip().lower(), Direction.INBOUND),
        caller_name=fields.get("CallerName", "").strip() or None,
        occurred_at=_timestamp(fields.get("Timestamp")),
        number_style=TwilioAdapter.number_style,
        raw=dict(fields),
    )
    dial_status = fields.get("DialCallStatus")
    if dial_status is not None:
        status = dial_status.strip().lower()
        return _dial_action_event(status, base, target_is_application=target_is_application)
    stage = _stage(fields)
    if stage is None:
        return None
    if parent_sid:
        return _child_event(fields, stage, base, target_is_application=target_is_application)
    return _parent_event(fields, stage, base)


def _twiml_response(twiml: str) -> AdapterResponse:
    return AdapterResponse(status_code=200, media_type="text/xml", body=twiml.encode("utf-8"))


class TwilioAdapter:
    """Twilio Programmable Voice webhooks."""

    name: str = "twilio"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify X-Twilio-Signature, then turn the request into at most one event."""
        verify_twilio(request, config)
        application = target_answers_as_application(config.options)
        event = twilio_event(_fields(request), target_is_application=application)
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """Call-handling TwiML for the voice URL and `<Dial action>`; `<Response/>` else."""
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        return _twiml_response(twiml_for(request, config, _fields(request)))

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The TwiML `respond` would give, or TwiML that keeps the caller on the line."""
        try:
            try:
                fields = _fields(request)
            except PayloadError:
                fields = {}  # unreadable: treat as the voice URL, where silence hurts most
            return _twiml_response(twiml_for(request, config, fields))
        except Exception:
            logger.exception("twilio fail_open fell back to the default queue")
            return _twiml_response(LAST_RESORT_TWIML)
