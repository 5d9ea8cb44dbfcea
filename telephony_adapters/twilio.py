"""Twilio Programmable Voice: voice URL, status callbacks and `<Dial action>` requests.

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
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit, urlunsplit
from xml.sax.saxutils import escape

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
    select_events,
    url_for_signature,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_HASHES = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_DEFAULT_PORTS = {"http": 80, "https": 443}

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = f"{_XML_DECLARATION}<Response/>"
# Characters XML 1.0 cannot carry even escaped; a target holding one is a broken option.
_NOT_XML = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

_STATUS_KINDS = {
    "queued": EventKind.RINGING,
    "initiated": EventKind.RINGING,
    "ringing": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    # Whether a completed call was missed is decided by the app from the whole lifecycle.
    "completed": EventKind.ENDED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "failed": EventKind.MISSED,
}
_CALLBACK_EVENT_KINDS = {
    "initiated": EventKind.RINGING,
    "ringing": EventKind.RINGING,
    "answered": EventKind.ANSWERED,
    "completed": EventKind.ENDED,
}
_DIAL_KINDS = {
    "completed": EventKind.ANSWERED,
    "answered": EventKind.ANSWERED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "failed": EventKind.MISSED,
}
# Fields only status callbacks and <Dial action> requests carry, never the voice URL request.
_CALLBACK_MARKERS = ("StatusCallbackEvent", "CallbackSource", "DialCallStatus")
_DIRECTIONS = {
    "inbound": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}


def url_variants(url: str) -> list[str]:
    """The URL as given plus its twin with/without the scheme's default port, like the SDK."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    userinfo, at, hostport = parts.netloc.rpartition("@")
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or (port is not None and port != default):
        return [url]
    if port is None:
        netloc = f"{userinfo}{at}{hostport}:{default}"
    else:
        netloc = f"{userinfo}{at}{hostport[: hostport.rfind(':')]}"
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
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"body is not valid JSON: {exc}") from None
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
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # RFC 2822 "-0000": UTC with unknown origin
    return parsed.astimezone(UTC)


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


def _kind(fields: Mapping[str, str], *, child: bool) -> EventKind | None:
    status = fields.get("CallStatus", "").strip().lower()
    dial_status = fields.get("DialCallStatus")
    if dial_status is not None:
        # A <Dial action> request: it reports on the dialled leg, on the parent's CallSid.
        return _DIAL_KINDS.get(dial_status.strip().lower())
    callback_event = fields.get("StatusCallbackEvent", "").strip().lower()
    if callback_event:
        kind = _CALLBACK_EVENT_KINDS.get(callback_event)
        # "completed" only says the leg is over; CallStatus says whether anyone answered.
        if kind is EventKind.ENDED and _STATUS_KINDS.get(status) is EventKind.MISSED:
            kind = EventKind.MISSED
    else:
        kind = _STATUS_KINDS.get(status)
    if child and kind is EventKind.MISSED:
        # One rung agent not answering says nothing about the call: others may have.
        return None
    return kind


def twilio_event(fields: Mapping[str, str]) -> CallEvent | None:
    """The CallEvent for one request's fields, or None for a status we do not track."""
    call_sid = fields.get("CallSid", "").strip()
    if not call_sid:
        raise PayloadError('"CallSid" is required (the Twilio call id, "CA…")')
    parent_sid = fields.get("ParentCallSid", "").strip()
    kind = _kind(fields, child=bool(parent_sid))
    if kind is None:
        return None
    from_raw = fields.get("From") or fields.get("Caller") or ""
    to_raw = fields.get("To") or fields.get("Called") or ""
    direction = _DIRECTIONS.get(fields.get("Direction", "").strip().lower(), Direction.INBOUND)
    ringing_extension = answered_by = None
    if parent_sid:
        # A <Dial> child leg: its To is the agent rung. It is grouped under the parent call,
        # which our voice URL flow only dials for inbound calls (the leg itself says outbound).
        direction = Direction.INBOUND
        agent = agent_from_address(to_raw) or None
        if kind is EventKind.RINGING:
            ringing_extension = agent
        else:
            answered_by = agent
    return CallEvent(
        provider=TwilioAdapter.name,
        call_id=parent_sid or call_sid,
        kind=kind,
        from_raw=from_raw,
        to_raw=to_raw,
        direction=direction,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        caller_name=fields.get("CallerName", "").strip() or None,
        occurred_at=_timestamp(fields.get("Timestamp")),
        raw=dict(fields),
    )


def _is_voice_request(fields: Mapping[str, str]) -> bool:
    """True for the number's voice URL (which must get call-handling TwiML)."""
    if any(marker in fields for marker in (*_CALLBACK_MARKERS, "ParentCallSid")):
        return False
    return fields.get("CallStatus", "").strip().lower() == "ringing"


def voice_twiml(options: Mapping[str, str]) -> str:
    """The TwiML for the voice URL per the `voice_response` / `dial_target` options."""
    mode = options.get("voice_response", "empty").strip().lower()
    if mode != "dial":
        if mode != "empty":
            logger.warning("twilio voice_response %r is not empty|dial; answering empty", mode)
        return EMPTY_TWIML
    target = options.get("dial_target", "").strip()
    if not target or _NOT_XML.search(target):
        # Hanging up is the only TwiML left that cannot itself be an error for the caller.
        logger.warning("twilio voice_response is dial but dial_target is missing or invalid")
        return EMPTY_TWIML
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        noun, text = "Sip", target
    elif lowered.startswith("client:"):
        noun, text = "Client", target[len("client:") :]
    else:
        noun, text = "Number", target
    return f"{_XML_DECLARATION}<Response><Dial><{noun}>{escape(text)}</{noun}></Dial></Response>"


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
        event = twilio_event(_fields(request))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """Call-handling TwiML for the voice URL, an empty `<Response/>` for callbacks."""
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        try:
            voice = _is_voice_request(_fields(request))
        except PayloadError:
            voice = False
        return _twiml_response(voice_twiml(config.options) if voice else EMPTY_TWIML)

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The configured voice TwiML so the caller still gets through; call after `parse`."""
        try:
            try:
                fields = _fields(request)
            except PayloadError:
                fields = {}  # unreadable: treat as the voice URL, where silence hurts most
            # Dialling again from a callback (a <Dial action> above all) would loop the caller
            # through the same agents, so callbacks get the empty answer.
            callback = any(marker in fields for marker in _CALLBACK_MARKERS)
            return _twiml_response(EMPTY_TWIML if callback else voice_twiml(config.options))
        except Exception:
            logger.exception("twilio fail_open fell back to an empty <Response/>")
            return _twiml_response(EMPTY_TWIML)
