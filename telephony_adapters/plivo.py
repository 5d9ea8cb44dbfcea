"""Plivo Voice: the application's answer and hangup URLs and `<Dial callbackUrl>` requests.

Signature (V3): ``X-Plivo-Signature-V3`` = base64(HMAC-SHA256(auth token, URL without query
+ "?" + sorted ``name=value`` query pairs + "." + sorted ``namevalue`` POST params + "." +
nonce)), the nonce in ``X-Plivo-Signature-V3-Nonce``. The layout follows Plivo's own Python
SDK (``plivo.utils.signature_v3``). Either header may carry several comma-separated values;
``X-Plivo-Signature-Ma-V3`` is the same made with the main account's token, so a tenant on a
subaccount may configure either token. There is no timestamp in the scheme.

Who answered: a request to the answer URL of an inbound call is Plivo answering into our XML
(``CallStatus=in-progress`` there, e.g. after a ``<Redirect>``, is reported with
``by_application``); only a ``<Dial>`` callback's ``DialAction=answer`` is a person picking up.
The hangup URL's ``Duration``/``BillDuration`` count from Plivo's answer, so they prove only
that nobody answered at all (0). On an outbound call (``Direction=outbound``, placed by our
user) ``From`` is our number, ``To`` the person called, and the answer URL is requested when
that person picks up. Numbers are E.164 digits without "+" (``From=447866555273``).

The answer URL is answered with Plivo XML: ``<Dial>`` to the ``dial_target`` option (SIP users
and numbers, comma-separated) with ``callbackUrl`` pointing back here, so the answering agent
is reported; without the option an empty ``<Response/>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import parse_qs, urlparse, urlunparse
from xml.sax.saxutils import escape, quoteattr

from telephony_adapters.base import (
    MAX_FORM_FIELDS,
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
    parse_count,
    select_events,
    url_for_signature,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
MAIN_ACCOUNT_HEADER = "X-Plivo-Signature-Ma-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
# More values than any token rotation needs; bounds the HMACs one request can ask for.
MAX_SIGNATURES = 8

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_XML = f"{_XML_DECLARATION}<Response/>"
# Characters XML 1.0 cannot carry even escaped; a target holding one is a broken option.
_NOT_XML = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Plivo rings at most this many destinations at once; more is a misconfigured option.
MAX_DIAL_TARGETS = 10

_STATUS_KINDS = {
    "ringing": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    # Whether a completed call was missed is decided by the app from the whole lifecycle.
    "completed": EventKind.ENDED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
    "cancel": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "cancelled": EventKind.MISSED,
    "timeout": EventKind.MISSED,
    "failed": EventKind.MISSED,
}
# Hangup causes (telephony names and Plivo's cause names, lower-cased, "_" for separators)
# that say nobody took the call.
_MISSED_CAUSES = frozenset(
    {
        "originator_cancel", "no_answer", "user_busy", "call_rejected", "no_user_response",
        "busy_line", "busy", "rejected", "canceled", "cancelled", "no_answer_timeout",
    }
)  # fmt: skip
_DIAL_STATUS_KINDS = {
    "completed": EventKind.ANSWERED,
    "busy": EventKind.MISSED,
    "failed": EventKind.MISSED,
    "timeout": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
}
_DIRECTIONS = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}


def plivo_base_string(method: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The text V3 signs before ``"." + nonce``, laid out exactly as Plivo's SDK does."""
    parts = urlparse(url)
    # The SDK rebuilds the URL from scheme, host and path only (";params" and "#" drop out).
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    try:
        query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise PayloadError(f"query string has more than {MAX_FORM_FIELDS} fields") from None
    query_text = "&".join(
        f"{name}={value}" for name in sorted(query) for value in sorted(query[name])
    )
    if method.upper() in ("GET", "HEAD") or not params:
        return f"{base}?{query_text}" if query_text else base
    joined = "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    return f"{base}?{query_text}.{joined}" if query_text else f"{base}?{joined}"


def plivo_signature(secret: str, base_string: str, nonce: str) -> str:
    """Base64 HMAC-SHA256 of the base string, a dot and the nonce."""
    message = f"{base_string}.{nonce}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _offered(request: AdapterRequest) -> list[str]:
    values: list[str] = []
    for header in (SIGNATURE_HEADER, MAIN_ACCOUNT_HEADER):
        raw = request.headers.get(header.lower(), "")
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values[:MAX_SIGNATURES]


def verify_plivo(request: AdapterRequest, config: AdapterConfig) -> None:
    """Check X-Plivo-Signature-V3 (or -Ma-V3) as Plivo computes it; raises SignatureError."""
    if SIGNATURE_HEADER.lower() not in request.headers and (
        MAIN_ACCOUNT_HEADER.lower() not in request.headers
    ):
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    nonce = request.headers.get(NONCE_HEADER.lower())
    if nonce is None:
        raise SignatureError(f"missing {NONCE_HEADER} header")
    offered = _offered(request)
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} is empty")
    url = url_for_signature(request, config)
    params = {} if request.method.upper() in ("GET", "HEAD") else request.form()
    expected = plivo_signature(config.secret, plivo_base_string(request.method, url, params), nonce)
    matched = False
    for candidate in offered:
        # Every candidate is compared, so timing does not tell which position matched.
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8"))
    if not matched:
        # The URL is the usual culprit behind a proxy: show the one we checked.
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match for URL {url} (wrong auth token, or Plivo "
            "called another URL: set the public base URL to the one configured in Plivo)"
        )


def _fields(request: AdapterRequest) -> dict[str, str]:
    """Plivo's parameters, first value of each: the query for GET, else the form body."""
    multi = request.query() if request.method.upper() in ("GET", "HEAD") else request.form()
    return {name: values[0] for name, values in multi.items() if values}


def agent_from_address(address: str) -> str:
    """The agent in a dialled leg: `sip:alice@phone.plivo.com` → alice, a number as it is."""
    text = address.strip()
    for scheme in ("sip:", "sips:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    return text.split(";", 1)[0].split("@", 1)[0]


def _seconds(value: str | None) -> int | None:
    return parse_count(value)


def _is_hangup(fields: Mapping[str, str]) -> bool:
    return (
        "HangupCause" in fields
        or "HangupCauseName" in fields
        or fields.get("Event", "").strip().lower() == "hangup"
    )


def _is_callback(fields: Mapping[str, str]) -> bool:
    """True for requests about a `<Dial>` (callbackUrl or action), not the call itself."""
    return "DialAction" in fields or "DialStatus" in fields


def _cause(fields: Mapping[str, str]) -> str:
    cause = fields.get("HangupCause") or fields.get("HangupCauseName") or ""
    return re.sub(r"[^a-z0-9]+", "_", cause.strip().lower()).strip("_")


def _hangup_kind(fields: Mapping[str, str], *, inbound: bool) -> tuple[EventKind, bool | None]:
    """The final event's kind and what it proves about a person answering."""
    duration = _seconds(fields.get("BillDuration"))
    if duration is None:
        duration = _seconds(fields.get("Duration"))
    unanswered = (
        _STATUS_KINDS.get(fields.get("CallStatus", "").strip().lower()) is EventKind.MISSED
        or _cause(fields) in _MISSED_CAUSES
        or duration == 0
    )
    if unanswered:
        # The leg was never answered, not even by Plivo's XML: nobody picked up. A call our
        # user placed that nobody took is over, not a missed call of ours.
        return (EventKind.MISSED if inbound else EventKind.ENDED), False
    if not inbound and duration:
        # An outbound leg is answered by the person called; its billed time counts from then.
        return EventKind.ENDED, True
    # An inbound leg's time counts from Plivo answering into our XML: it proves nothing.
    return EventKind.ENDED, None


def _dial_kind(fields: Mapping[str, str]) -> tuple[EventKind | None, bool | None]:
    """A `<Dial>` request's kind, and whether it proves the dialled person answered."""
    action = fields.get("DialAction", "").strip().lower()
    if action in ("answer", "connected"):
        return EventKind.ANSWERED, None
    if action == "hangup":
        leg = _seconds(fields.get("DialBLegDuration"))
        if leg is None:
            leg = _seconds(fields.get("DialBLegBillDuration"))
        # One rung agent hanging up unanswered says nothing about the call: others may answer.
        # A B leg with talk time was answered by its person, so this one ended the talk.
        return (EventKind.ENDED, True) if leg else (None, None)
    if action:
        return None, None  # "digits" and whatever Plivo adds later
    kind = _DIAL_STATUS_KINDS.get(fields.get("DialStatus", "").strip().lower())
    # The <Dial action> request: DialStatus reports the whole dial, all its targets.
    return kind, (False if kind is EventKind.MISSED else None)


def plivo_event(fields: Mapping[str, str]) -> CallEvent | None:
    """The CallEvent for one request's fields, or None for one we do not track."""
    callback = _is_callback(fields)
    call_id = (fields.get("DialALegUUID", "") if callback else "").strip()
    call_id = call_id or fields.get("CallUUID", "").strip()
    if not call_id:
        raise PayloadError('"CallUUID" is required (the Plivo call id)')
    direction = _DIRECTIONS.get(fields.get("Direction", "").strip().lower(), Direction.INBOUND)
    inbound = direction is not Direction.OUTBOUND
    person_answered: bool | None = None
    by_application = False
    if callback:
        kind, person_answered = _dial_kind(fields)
    elif _is_hangup(fields):
        kind, person_answered = _hangup_kind(fields, inbound=inbound)
    else:
        kind = _STATUS_KINDS.get(fields.get("CallStatus", "").strip().lower())
        if kind is EventKind.ANSWERED and inbound:
            # The answer URL of a call in progress: Plivo runs our XML, no person picked up.
            by_application = True
        elif kind is EventKind.MISSED and not inbound:
            kind, person_answered = EventKind.ENDED, False
    if kind is None:
        return None
    from_raw = fields.get("From", "") or fields.get("DialBLegFrom", "")
    answered_by = None
    if callback:
        # Our answer XML only dials for inbound calls; the dialled leg itself is outbound.
        direction = Direction.INBOUND
        if kind is not EventKind.MISSED:
            answered_by = agent_from_address(fields.get("DialBLegTo", "")) or None
    name = fields.get("CallerName", "").strip()
    # Plivo fills CallerName with the number itself when the network sends no name.
    caller_name = name if name and name.lstrip("+") != from_raw.strip().lstrip("+") else None
    return CallEvent(
        provider=PlivoAdapter.name,
        call_id=call_id,
        kind=kind,
        from_raw=from_raw,
        to_raw=fields.get("To", ""),
        direction=direction,
        answered_by=answered_by,
        caller_name=caller_name,
        # StartTime/EndTime are in the account's local zone, which the request does not name.
        occurred_at=None,
        number_style=PlivoAdapter.number_style,
        by_application=by_application,
        person_answered=person_answered,
        raw=dict(fields),
    )


def _is_answer_request(fields: Mapping[str, str]) -> bool:
    """True for the answer URL of an inbound call (which must get call-handling XML)."""
    if _is_callback(fields) or _is_hangup(fields):
        return False
    return fields.get("Direction", "inbound").strip().lower() != "outbound"


def _dial_nouns(target: str) -> list[str] | None:
    nouns: list[str] = []
    for entry in target.split(","):
        entry = entry.strip()
        if not entry or _NOT_XML.search(entry):
            return None
        noun = "User" if entry.lower().startswith(("sip:", "sips:")) else "Number"
        nouns.append(f"<{noun}>{escape(entry)}</{noun}>")
    return nouns if len(nouns) <= MAX_DIAL_TARGETS else None


def answer_xml(request: AdapterRequest, config: AdapterConfig) -> str:
    """The answer URL's XML: `<Dial>` to the `dial_target` option, else `<Response/>`."""
    target = config.options.get("dial_target", "").strip()
    if not target:
        return EMPTY_XML
    nouns = _dial_nouns(target)
    if nouns is None:
        # Hanging up is the only XML left that cannot itself be an error for the caller.
        logger.warning("plivo dial_target is invalid (1 to %d targets)", MAX_DIAL_TARGETS)
        return EMPTY_XML
    callback = quoteattr(url_for_signature(request, config))
    return (
        f'{_XML_DECLARATION}<Response><Dial callbackUrl={callback} callbackMethod="POST">'
        f"{''.join(nouns)}</Dial></Response>"
    )


def _xml_response(document: str) -> AdapterResponse:
    return AdapterResponse(
        status_code=200, media_type="application/xml", body=document.encode("utf-8")
    )


class PlivoAdapter:
    """Plivo Voice webhooks (answer URL, hangup URL, Dial callbacks)."""

    name: str = "plivo"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify X-Plivo-Signature-V3, then turn the request into at most one event."""
        verify_plivo(request, config)
        event = plivo_event(_fields(request))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """Call-handling XML for the answer URL, an empty `<Response/>` for the others."""
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        try:
            answer = _is_answer_request(_fields(request))
        except PayloadError:
            answer = False
        return _xml_response(answer_xml(request, config) if answer else EMPTY_XML)

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The configured answer XML so the caller still gets through; never raises."""
        try:
            try:
                answer = _is_answer_request(_fields(request))
            except PayloadError:
                answer = True  # unreadable: treat as the answer URL, where silence hurts most
            return _xml_response(answer_xml(request, config) if answer else EMPTY_XML)
        except Exception:
            logger.exception("plivo fail_open fell back to an empty <Response/>")
            return _xml_response(EMPTY_XML)
