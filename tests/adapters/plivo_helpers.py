"""Shared by the Plivo adapter tests: fixtures, SDK-made V3 signatures, requests, parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from telephony_adapters.base import AdapterConfig, AdapterRequest, CallEvent
from telephony_adapters.plivo import PlivoAdapter
from tests.adapters.cases_plivo import sdk_signature
from tests.support import vendor_fixtures

TOKEN = "MzQ5ZGFkNTctYjE2Ny00NzI3LWE0ZGQtZDFhNjA0ZmIyZTE1"
URL = "https://stamgast.example.org/webhooks/plivo/acme"
NONCE = "05429567804466091622"
NOW = datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
A_LEG = "e4b3c2d1-0a9b-4c8d-8e7f-6a5b4c3d2e1f"
FORM = "application/x-www-form-urlencoded"

adapter = PlivoAdapter()
CONFIG = AdapterConfig(secret=TOKEN)


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("plivo", name).body


def signature_of(url: str, body: bytes, *, token: str = TOKEN, method: str = "POST") -> str:
    return sdk_signature(url, body, token, NONCE, method)


def form_request(
    body: bytes, *, url: str = URL, signature: str | None = None, signed_url: str | None = None
) -> AdapterRequest:
    headers = {
        "content-type": FORM,
        "x-plivo-signature-v3": signature or signature_of(signed_url or url, body),
        "x-plivo-signature-v3-nonce": NONCE,
    }
    return AdapterRequest(method="POST", url=url, headers=headers, body=body)


def parse_one(request: AdapterRequest, config: AdapterConfig = CONFIG) -> CallEvent:
    events = adapter.parse(request, config, now=NOW)
    assert len(events) == 1
    return events[0]


def params_body(**fields: str) -> bytes:
    return urlencode(
        {"CallUUID": A_LEG, "From": "31612345678", "To": "31201234567", **fields}
    ).encode()
