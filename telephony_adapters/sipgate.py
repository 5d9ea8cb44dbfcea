"""sipgate.io push API: ``newCall``, ``answer`` and ``hangup`` as form POSTs.

sipgate only sends ``answer`` and ``hangup`` if the ``newCall`` response names URLs for them,
so every ``newCall`` is answered with ``<Response onAnswer=URL onHangup=URL/>``, URL being
the webhook URL sipgate called (with the basic-auth credentials it sent, if any).

Signature: ``X-Sipgate-Signature`` = base64 RSA-SHA256 (PKCS#1 v1.5) over the raw body,
made with sipgate's private key. The tenant's secret (or the ``public_key`` option) is the PEM
public key to check it with, or the word ``sipgate`` for the key sipgate publishes. With the
``basic_auth`` option (``user:password``) a matching ``Authorization: Basic`` header is
required as well. There is no timestamp in the scheme.

A forwarded or transferred call continues under a new ``callId`` that carries the first one
as ``origCallId``; events are grouped under the first id, so the caller's call stays one
call, and the ``forwarded`` hangup of the first leg is not an end.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit
from xml.sax.saxutils import quoteattr

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

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# `cryptography` (~7 MiB resident) is imported by the first sipgate push a process checks,
# not by every server: most never have a sipgate tenant (bench/import_memory.py).

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sipgate-Signature"
# The key sipgate signs pushes with, as published in sipgate's Node.js SDK
# (github.com/sipgate-io/sipgateio-node, lib/webhook/signatureVerifier.ts and
# lib/webhook/id_rsa.pub). Chosen with the secret or `public_key` option "sipgate".
SIPGATE_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAvFdlnqRfO5TmqzjtsFVC
qPz+oW+poi3lXQFvMJJMEAtlU4MbX+yuIkgnC+Qt3AQWIK+oWSEQiybg+p39wEMl
16PZxEzf9gONQvTg1XhyHnwqYUFQj/AoxPKGYC3jmdjZ224SrESiTN3CdxoOc3vk
cXiQstYE7SxnksPtzfk0aIOkicim5/tAP9izNQ18/zmX3ChjK2k72gf5dDlq+qZ8
pRiHAPZ64TySH6cLQDhaoh6Nbq8FEG3usXXPClbUMh2DZaTMPafpd+LNuTngJ/y+
KoZasVuFfXAeBqGA6l5d4Uedfr99Z6qjwDrJ8sU4z2Do9bJrbuqP+mOXEebhSI1K
vi8trEfrIt8hnDBGsBaB9NEO3kYxvDT2/PhC9fNYFocjEpZNd7/mUqTJDYlpa4UC
NDQaU+ATdXG8/P5sGAegks6MQTu+qe9XTO0CV48eswDkz6g3UbLOwmrJK59SjD3J
yAZ52sluwyDKRWw/PPTt8BTQLjvkdbiLUlc4ehJ4b1X7D7diYWHDPeFL47cAvaXh
dXVrZDeBJYibvD1jRx4ES0KlfhwzNXBYUoM/Movg9zMM2PzyHHKS//xIjwUC/FJ6
/6eykno0Hy2B1ev6s3hdY6VkN2zd7Wf+EK4DxRliwsg1U99szFE3ewLfexF+Uag5
M+TfPtOUumI/NHMTvsRW9+ECAwEAAQ==
-----END PUBLIC KEY-----
"""
SIPGATE_KEY_NAME = "sipgate"
# An RSA signature is as long as the key; 16384-bit keys are far beyond any in use.
_MAX_SIGNATURE_CHARS = 4096

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_XML = f"{_XML_DECLARATION}<Response/>"

_DIRECTIONS = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}
_HANGUP_KINDS: dict[str, EventKind | None] = {
    "normalclearing": EventKind.ENDED,
    "busy": EventKind.MISSED,
    "cancel": EventKind.MISSED,
    "noanswer": EventKind.MISSED,
    "congestion": EventKind.MISSED,
    "notfound": EventKind.MISSED,
    # The call goes on as a new leg grouped under the same id (see the module docstring).
    "forwarded": None,
}
_VOICEMAIL_USER = "voicemail"


@functools.lru_cache(maxsize=32)
def _load_key(pem: str) -> RSAPublicKey:
    """The RSA public key in `pem`; cached, as a tenant's key is parsed on every push."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(pem.encode("utf-8"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def _public_key(config: AdapterConfig) -> RSAPublicKey:
    from cryptography.exceptions import UnsupportedAlgorithm

    configured = config.options.get("public_key", "").strip() or config.secret.strip()
    if configured.lower() == SIPGATE_KEY_NAME:
        configured = SIPGATE_PUBLIC_KEY
    elif "\\n" in configured and "\n" not in configured:
        # A PEM pasted into a one-line JSON or env value arrives with escaped newlines.
        configured = configured.replace("\\n", "\n")
    try:
        return _load_key(configured)
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError(
            "the configured sipgate key is not a PEM RSA public key: set the secret to "
            f'"{SIPGATE_KEY_NAME}" for the key sipgate publishes, or to a PEM public key'
        ) from None


def _basic_credentials(request: AdapterRequest) -> str | None:
    """The `user:password` of an `Authorization: Basic` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _check_basic_auth(request: AdapterRequest, expected: str) -> None:
    if "authorization" not in request.headers:
        raise SignatureError("missing Authorization header (basic auth is configured)")
    offered = _basic_credentials(request)
    if offered is None or not hmac.compare_digest(
        offered.encode("utf-8"), expected.encode("utf-8")
    ):
        raise SignatureError("Authorization does not match the configured basic auth user")


def verify_sipgate(request: AdapterRequest, config: AdapterConfig) -> None:
    """Check X-Sipgate-Signature (and basic auth if configured); raises SignatureError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = request.headers.get(SIGNATURE_HEADER.lower())
    if header is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    key = _public_key(config)
    text = header.strip()
    if len(text) > _MAX_SIGNATURE_CHARS:
        raise SignatureError(f"{SIGNATURE_HEADER} is longer than any RSA signature")
    try:
        signature = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SignatureError(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        key.verify(signature, request.body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match the body (signed with another key than the "
            "configured one, or the body was altered)"
        ) from None
    expected = config.options.get("basic_auth", "")
    if expected:
        _check_basic_auth(request, expected)


def _values(form: Mapping[str, list[str]], name: str) -> list[str]:
    """Every value sent as `name`, `name[]` or `name[][0]` (form encoders differ)."""
    found: list[str] = []
    for key, values in form.items():
        if key == name or key.startswith(f"{name}["):
            found.extend(values)
    return found


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = _values(form, name)
    return values[0].strip() if values else ""


def _agent(ids: Sequence[str], names: Sequence[str]) -> str | None:
    """The one user involved, by id (w0, stable) or else name; None when several are."""
    for candidates in (ids, names):
        present = [value.strip() for value in candidates if value.strip()]
        if present:
            return present[0] if len(present) == 1 else None
    return None


def sipgate_event(form: Mapping[str, list[str]]) -> CallEvent | None:
    """The CallEvent for one push, or None for an event we do not track."""
    event = _first(form, "event")
    if not event:
        raise PayloadError('"event" is required (newCall, answer or hangup)')
    event = event.lower()
    if event not in ("newcall", "answer", "hangup"):
        return None  # "dtmf" and whatever sipgate adds later
    call_id = _first(form, "origCallId") or _first(form, "originalCallId")
    call_id = call_id or _first(form, "callId")
    if not call_id:
        raise PayloadError('"callId" is required (the sipgate call id)')
    direction = _DIRECTIONS.get(_first(form, "direction").lower(), Direction.INBOUND)
    ringing_extension = answered_by = person_answered = None
    if event == "newcall":
        kind: EventKind | None = EventKind.RINGING
        # Inbound: the users being rung; outbound: the user calling, who sees the card.
        ringing_extension = _agent(_values(form, "userId"), _values(form, "user"))
    elif event == "answer":
        user = _first(form, "user")
        if user.lower() == _VOICEMAIL_USER:
            kind = EventKind.VOICEMAIL
        else:
            kind = EventKind.ANSWERED
            answered_by = _first(form, "userId") or user or _first(form, "answeringNumber")
    else:
        cause = _first(form, "cause").lower()
        # An unknown cause still ends the call; whether it was missed the app knows.
        kind = _HANGUP_KINDS.get(cause, EventKind.ENDED)
        if kind is EventKind.MISSED:
            # sipgate's table: the caller hung up "before the called party picked up", or
            # the callee was busy, rejected, unreachable or unknown: no one answered.
            person_answered = False
        # normalClearing ("hung up after the call was established") proves no person: a
        # voicemail establishes the call too.
    if kind is None:
        return None
    return CallEvent(
        provider=SipgateAdapter.name,
        call_id=call_id,
        kind=kind,
        from_raw=_first(form, "from"),
        to_raw=_first(form, "to"),
        direction=direction,
        ringing_extension=ringing_extension or None,
        answered_by=answered_by or None,
        number_style=SipgateAdapter.number_style,
        person_answered=person_answered,
        raw={name: ",".join(values) for name, values in form.items()},
    )


def _callback_url(request: AdapterRequest, config: AdapterConfig) -> str:
    """Our public URL for onAnswer/onHangup, with the basic-auth credentials sipgate sent."""
    url = url_for_signature(request, config)
    credentials = _basic_credentials(request)
    if credentials is None:
        return url
    user, _, password = credentials.partition(":")
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def response_xml(request: AdapterRequest, config: AdapterConfig) -> str:
    """`<Response onAnswer onHangup/>` for newCall, so the call's events follow; else empty."""
    try:
        event = _first(request.form(), "event").lower()
    except PayloadError:
        event = "newcall"  # unreadable: asking for the follow-ups costs nothing
    if event != "newcall":
        return EMPTY_XML
    url = quoteattr(_callback_url(request, config))
    return f"{_XML_DECLARATION}<Response onAnswer={url} onHangup={url}/>"


def _xml_response(document: str) -> AdapterResponse:
    return AdapterResponse(
        status_code=200, media_type="application/xml", body=document.encode("utf-8")
    )


class SipgateAdapter:
    """sipgate.io push API (sipgate team, sipgate basic, simquadrat)."""

    name: str = "sipgate"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify X-Sipgate-Signature, then turn the push into at most one event."""
        verify_sipgate(request, config)
        event = sipgate_event(request.form())
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """The XML sipgate expects; for newCall it subscribes to answer and hangup."""
        return _xml_response(response_xml(request, config))

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The same XML as `respond`, so the call's later events still come; never raises."""
        try:
            return _xml_response(response_xml(request, config))
        except Exception:
            logger.exception("sipgate fail_open fell back to an empty <Response/>")
            return _xml_response(EMPTY_XML)
