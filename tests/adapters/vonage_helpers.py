"""Shared by the Vonage adapter tests: fixtures, requests with Vonage's JWTs, parsing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt

from telephony_adapters.base import AdapterConfig, AdapterRequest, CallEvent
from telephony_adapters.vonage import VonageAdapter
from tests.adapters.cases_vonage import agent_mark, vonage_token
from tests.support import vendor_fixtures

SECRET = "vonage-signature-secret-0123456789abcdef"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
IAT = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/vonage/acme"
CON = "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
# The URL our NCCO gives the leg ringing an agent in conversation CON; the plain marker proves
# nothing (a replay can add it: the JWT does not cover a POST's URL).
AGENT_URL = f"{URL}?stamgast_leg={agent_mark(SECRET, CON)}"
PLAIN_AGENT_URL = f"{URL}?stamgast_leg=agent"
CONFIG = AdapterConfig(secret=SECRET)

adapter = VonageAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("vonage", name).body


def claims_token(claims: dict[str, Any], secret: str = SECRET, **kwargs: Any) -> str:
    return jwt.encode(claims, secret, algorithm=kwargs.pop("algorithm", "HS256"), **kwargs)


def post(
    body: bytes, *, url: str = URL, secret: str = SECRET, iat: int = IAT, token: str | None = None
) -> AdapterRequest:
    """An event POST as Vonage sends it, its JWT over the raw body."""
    bearer = token or vonage_token(secret, body, iat=iat)
    headers = {"content-type": "application/json", "authorization": f"Bearer {bearer}"}
    return AdapterRequest("POST", url, headers, body)


def answer_get(params: dict[str, str], *, hashed: bytes | None = None) -> AdapterRequest:
    """The answer URL's GET, its payload_hash over the query as compact JSON (or `hashed`)."""
    compact = json.dumps(params, separators=(",", ":")).encode()
    claims = {"iat": IAT, "payload_hash": hashlib.sha256(hashed or compact).hexdigest()}
    headers = {"authorization": f"Bearer {claims_token(claims)}"}
    return AdapterRequest("GET", f"{URL}?{urlencode(params)}", headers, b"")


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def parse_one(request: AdapterRequest, config: AdapterConfig = CONFIG) -> CallEvent:
    events = parse(request, config)
    assert len(events) == 1
    return events[0]
