"""A signed request replayed with another query string: refused, or read exactly as before.

Telnyx signs the body and Vonage a hash of "the payload", never the URL: a GET's query, which
is all the GET says, went unsigned, and one captured signature reported any call for five
minutes. For every adapter and both methods, changing the query of a correctly signed request
must either be refused as a bad signature (401) or change nothing the adapter reads from it.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.models import Call, utcnow
from telephony_adapters.base import AdapterError, AdapterRequest, Outcome, SignatureError
from telephony_adapters.registry import ADAPTERS
from tests.adapters import cases_vonage
from tests.adapters.cases_vonage import vonage_token
from tests.adapters.signed_any import FORM, signed, with_query
from tests.adapters.test_adapter_fuzz import case_for, url_for
from tests.conftest import TenantCtx
from tests.support import vendor_fixtures

PROVIDERS = sorted(ADAPTERS)
CALLER, FORGED = "612345678", "687654321"


def _fields(provider: str, call_id: str) -> list[tuple[str, str]]:
    """The case's ringing delivery as flat name/value pairs, the way a GET would carry them."""
    if provider == "telnyx":
        # Telnyx's GETs are TeXML requests (its default Voice Method), not Call Control.
        texml = vendor_fixtures.load("telnyx", "texml-voice.txt").body.decode()
        return [(n, call_id if n == "CallSid" else v) for n, v in parse_qsl(texml)]
    valid = case_for(provider).request("ringing", call_id, url_for(provider))
    if valid.content_type == FORM:
        return parse_qsl(valid.body.decode(), keep_blank_values=True)
    document = json.loads(valid.body)
    return [(name, value) for name, value in document.items() if isinstance(value, str)]


def _outcome(provider: str, request: AdapterRequest) -> object:
    """What the adapter records from the request (its events), or its error.

    The answer may differ (sipgate's echoes our URL): it goes back to whoever sent the request.
    """
    adapter, config = ADAPTERS[provider], case_for(provider).config
    try:
        events = adapter.parse(request, config, now=utcnow())
    except AdapterError as exc:
        return type(exc), exc.message
    return events, adapter.respond(request, config, events, Outcome()).status_code


def _forgeries(query: str) -> list[str]:
    return [query.replace(CALLER, FORGED), f"{query}&x=1", "", f"From=%2B31{FORGED}&to=1"]


def _assert_covered(provider: str, original: AdapterRequest, query: str) -> None:
    before = _outcome(provider, original)
    for forged in _forgeries(query):
        after = _outcome(provider, with_query(original, forged))
        refused = isinstance(after, tuple) and after[0] is SignatureError
        assert refused or after == before, f"{provider}: query {forged!r} changed {after!r}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_get_query_is_covered_or_ignored(provider: str) -> None:
    query = urlencode(_fields(provider, f"cov-{uuid.uuid4().hex[:10]}"))
    original = signed(provider, b"", url=f"{url_for(provider)}?{query}", media="", method="GET")
    _assert_covered(provider, original, query)


def test_vonage_get_hashed_as_an_empty_payload_is_refused() -> None:
    # Which bytes Vonage hashes for a GET is undocumented; the empty payload's hash covers
    # nothing of the query, so it cannot vouch for one.
    query = urlencode(_fields("vonage", f"cov-{uuid.uuid4().hex[:10]}"))
    token = vonage_token(cases_vonage.SECRET, b"", iat=int(time.time()))
    headers = {"authorization": f"Bearer {token}"}
    request = AdapterRequest("GET", f"{url_for('vonage')}?{query}", headers, b"")
    # An empty query says nothing, so nothing is left to vouch for: those are left out.
    for forged in [query, *filter(None, _forgeries(query))]:
        outcome = _outcome("vonage", with_query(request, forged))
        assert isinstance(outcome, tuple) and outcome[0] is SignatureError, (forged, outcome)
        assert "set the answer and event methods" in str(outcome[1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_post_query_is_covered_or_ignored(provider: str) -> None:
    query = "tag=1"
    case = case_for(provider)
    valid = case.request("ringing", f"cov-{uuid.uuid4().hex[:10]}", f"{url_for(provider)}?{query}")
    _assert_covered(provider, valid, query)


@pytest.mark.parametrize("provider", ["telnyx", "vonage"])
async def test_replayed_get_with_another_query_is_refused(
    provider: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
) -> None:
    case = case_for(provider)
    config = {"secret": case.config.secret, "options": dict(case.config.options)}
    assert (await api.put(f"/v1/providers/{provider}", json=config)).status_code == 200
    call_id = f"get-{uuid.uuid4().hex[:10]}"
    query = urlencode(_fields(provider, call_id))
    url = f"http://testserver/webhooks/{provider}/{tenant.slug}"
    original = signed(provider, b"", url=f"{url}?{query}", media="", method="GET")
    headers = dict(original.headers)
    first = await client.get(original.url, headers=headers)
    # Vonage hashes a GET's query, so its own request passes; Telnyx signs no query at all.
    assert first.is_success if provider == "vonage" else first.status_code == 401, first.text
    variants = [(forged, headers) for forged in _forgeries(query)]
    if provider == "vonage":
        # A token over the empty payload would vouch for any query.
        empty = vonage_token(cases_vonage.SECRET, b"", iat=int(time.time()))
        variants.append((query, {"authorization": f"Bearer {empty}"}))
    for forged, sent in variants:
        response = await client.get(f"{url}?{forged}", headers=sent)
        assert response.status_code == 401, (forged, response.text)
        assert response.json()["code"] == "bad_signature"
    async for session in session_scope(app.state.sessionmaker):
        calls = list(await session.scalars(select(Call).where(Call.tenant_id == tenant.id)))
    assert [call.provider_call_id for call in calls] == ([call_id] if provider == "vonage" else [])
