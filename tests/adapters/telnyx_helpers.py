"""Shared by the Telnyx adapter tests: the key, fixtures, requests signed with PyNaCl, parsing."""

from __future__ import annotations

from datetime import UTC, datetime

from telephony_adapters.base import AdapterConfig, AdapterRequest, CallEvent
from telephony_adapters.telnyx import TelnyxAdapter
from tests.adapters.cases_telnyx import public_key, telnyx_headers
from tests.support import vendor_fixtures

KEY = "telnyx-unit-key"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/telnyx/acme"
SESSION = "428c31b6-abf3-3bc1-b7f4-5013ef9657c1"
CONFIG = AdapterConfig(secret=public_key(KEY))

adapter = TelnyxAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("telnyx", name).body


def signed(
    body: bytes,
    *,
    url: str = URL,
    media: str = "application/json",
    key: str = KEY,
    stamp: int = STAMP,
    method: str = "POST",
) -> AdapterRequest:
    headers = {"content-type": media, **telnyx_headers(key, body, stamp)}
    return AdapterRequest(method, url, headers, body)


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)
