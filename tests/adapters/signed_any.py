"""Any body or query, correctly signed for any registered adapter (fuzz and coverage tests).

Each vendor signs as in its `cases_<provider>.py`, with the case's own key, so the adapter under
test gets past its signature check and has to deal with what follows. Twilio and Plivo sign
parsed parameters, so their garbage comes as form fields; the others sign raw bytes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, parse_qsl, urlsplit

from telephony_adapters.base import AdapterRequest
from telephony_adapters.generic import sign_generic
from telephony_adapters.plivo import plivo_base_string, plivo_signature
from telephony_adapters.twilio import twilio_signature
from tests.adapters import (
    cases_amazon_connect,
    cases_generic,
    cases_jambonz,
    cases_kamailio,
    cases_placetel,
    cases_plivo,
    cases_sipgate,
    cases_telnyx,
    cases_twilio,
    cases_vonage,
    cases_zammad_cti,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Whose signature covers parsed form fields, not the raw bytes.
SIGNS_FIELDS = frozenset({"twilio", "plivo"})

Headers = dict[str, str]


def _generic(secret: str) -> Callable[[str, str, bytes], Headers]:
    def sign(method: str, url: str, body: bytes) -> Headers:
        signed = sign_generic(secret, body, int(time.time()))
        return {name.lower(): value for name, value in signed.items()}

    return sign


def _jambonz(method: str, url: str, body: bytes) -> Headers:
    stamp = int(time.time())
    return {"jambonz-signature": cases_jambonz.jambonz_header(cases_jambonz.SECRET, body, stamp)}


def _placetel(method: str, url: str, body: bytes) -> Headers:
    return {"x-placetel-signature": cases_placetel.sign(body)}


def _sipgate(method: str, url: str, body: bytes) -> Headers:
    return {"x-sipgate-signature": cases_sipgate.sign(body)}


def _telnyx(method: str, url: str, body: bytes) -> Headers:
    return cases_telnyx.telnyx_headers(cases_telnyx.KEY_NAME, body, int(time.time()))


def _vonage(method: str, url: str, body: bytes) -> Headers:
    if method in ("GET", "HEAD"):
        # What Vonage hashes for a GET: its query as compact JSON, names in their order.
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        body = json.dumps(query, separators=(",", ":"), ensure_ascii=False).encode()
    token = cases_vonage.vonage_token(cases_vonage.SECRET, body, iat=int(time.time()))
    return {"authorization": f"Bearer {token}"}


def _form(method: str, body: bytes) -> dict[str, list[str]]:
    if method in ("GET", "HEAD"):
        return {}
    return parse_qs(body.decode(), keep_blank_values=True)


def _twilio(method: str, url: str, body: bytes) -> Headers:
    params = _form(method, body)
    return {"x-twilio-signature": twilio_signature(cases_twilio.TOKEN, url, params)}


def _plivo(method: str, url: str, body: bytes) -> Headers:
    nonce = uuid.uuid4().hex
    base = plivo_base_string(method, url, _form(method, body))
    return {
        "x-plivo-signature-v3": plivo_signature(cases_plivo.TOKEN, base, nonce),
        "x-plivo-signature-v3-nonce": nonce,
    }


SIGNERS: dict[str, Callable[[str, str, bytes], Headers]] = {
    "amazon_connect": _generic(cases_amazon_connect.SECRET),
    "generic": _generic(cases_generic.SECRET),
    "jambonz": _jambonz,
    "kamailio": _generic(cases_kamailio.SECRET),
    "placetel": _placetel,
    "plivo": _plivo,
    "sipgate": _sipgate,
    "telnyx": _telnyx,
    "twilio": _twilio,
    "vonage": _vonage,
    "zammad_cti": _generic(cases_zammad_cti.SECRET),
}


def signed(
    provider: str, body: bytes, *, url: str, media: str = JSON, method: str = "POST"
) -> AdapterRequest:
    """`body` sent to `url` with `method`, signed as `provider` signs (over bytes or fields)."""
    headers = {"content-type": media} if media else {}
    headers.update(SIGNERS[provider](method, url, body))
    return AdapterRequest(method=method, url=url, headers=headers, body=body)


def with_query(request: AdapterRequest, query: str) -> AdapterRequest:
    """The same request, signature kept, with its URL's query string replaced."""
    parts = urlsplit(request.url)
    url = parts._replace(query=query).geturl()
    return AdapterRequest(request.method, url, request.headers, request.body)
