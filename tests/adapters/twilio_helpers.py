"""Shared by the Twilio adapter tests: fixtures, SDK-made signatures, requests, TwiML parsing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from telephony_adapters.base import AdapterConfig, AdapterRequest, CallEvent
from telephony_adapters.twilio import TwilioAdapter
from tests.support import vendor_fixtures

TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
URL = "https://stamgast.example.org/webhooks/twilio/acme"
NOW = datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
PARENT_SID = "CA5f0c9d1e2b3a4c5d6e7f8091a2b3c4d5"
FORM = "application/x-www-form-urlencoded"

adapter = TwilioAdapter()


class MultiParams:
    """A multi-valued mapping the SDK reads through `getlist`, as Django's QueryDict."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Any:
        return iter([name for name, _ in self.pairs])

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def fixture(name: str) -> bytes:
    """The body of `tests/fixtures/twilio/<name>`, exactly as Twilio sends it."""
    return vendor_fixtures.load("twilio", name).body


def fixture_request(name: str, token: str = TOKEN) -> AdapterRequest:
    """The fixture as a request to the URL its header names, signed by the SDK over that URL."""
    recorded = vendor_fixtures.load("twilio", name)
    url = recorded.url or URL
    return form_request(recorded.body, url=url, signature=sdk_signature(url, recorded.body, token))


def sdk_signature(url: str, body: bytes, token: str = TOKEN, **kwargs: Any) -> str:
    """The signature Twilio's SDK computes for a form body."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return str(RequestValidator(token).compute_signature(url, params, **kwargs))


def form_request(
    body: bytes, *, url: str = URL, signature: str | None = None, signed_url: str | None = None
) -> AdapterRequest:
    """A POST as the app would hand it over, signed by the SDK over `signed_url`."""
    headers = {"content-type": f"{FORM}; charset=utf-8"}
    headers["x-twilio-signature"] = signature or sdk_signature(signed_url or url, body)
    return AdapterRequest(method="POST", url=url, headers=headers, body=body)


def params_body(**fields: str) -> bytes:
    base = {"CallSid": "CA" + "1" * 32, "From": "+31612345678", "To": "+31201234567"}
    return urlencode({**base, **fields}).encode()


def parse_one(request: AdapterRequest, config: AdapterConfig | None = None) -> CallEvent:
    events = adapter.parse(request, config or AdapterConfig(secret=TOKEN), now=NOW)
    assert len(events) == 1
    return events[0]


def twiml(body: bytes) -> ET.Element:
    """Parse the TwiML (proving it well-formed) and check the declaration."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root
