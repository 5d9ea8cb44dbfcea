"""Correctly signed garbage, for every adapter: a 4xx (AdapterError) or the vendor's 2xx, never 5xx.

A signed request only proves who sent it, not that it is well formed: a vendor's bug, a
tenant's own script or a leaked secret can sign anything. Each adapter gets its contract case's
valid bodies with fields replaced by values of every shape (wrong types, huge numbers, NUL
bytes, deep nesting, unicode, out-of-range times, overlong strings), removed or added, and whole
bodies of junk. `parse` must return events or raise `AdapterError` (never `SignatureError`: the
signature is right); `respond` and `fail_open` must answer below 500. One end-to-end check per
adapter sends a few such bodies through the real endpoint.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models import utcnow
from telephony_adapters.base import (
    AdapterConfig,
    AdapterError,
    AdapterRequest,
    Outcome,
    SignatureError,
)
from telephony_adapters.registry import ADAPTERS
from tests.adapters.signed_any import FORM, JSON, SIGNS_FIELDS, signed
from tests.conftest import TenantCtx
from tests.support.adapter_cases import Scenario, VendorCase

PROVIDERS = sorted(ADAPTERS)
SCENARIOS: tuple[Scenario, ...] = ("ringing", "answered", "ended", "ignored")

# Placeholders json.dumps cannot write directly, swapped into the encoded body.
_DEEP = "\x00deep:"
_HUGE = "\x00huge"
_PLACEHOLDER = re.compile(r'"\\u0000(deep:(\d+)|huge)"')

_TIMES = [
    "9999-12-31T23:59:59-12:00",  # past datetime.max once in UTC
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",  # before datetime.min once in UTC
    "1970-01-01T00:00:00Z",
    "2026-11-25T10:42:00",  # no offset
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "Mon, 01 Jan 0001 00:00:00 +1400",
    "253402300800",
    "-62135596801",
    "1e308",
    "99999999999999999999999",
]
_STRINGS = [
    "",
    " ",
    "\x00",
    "call\x00id",
    "+31612345678\x00",
    "sip:\x00@pbx.example",
    "sip:" + "2" * 300 + "@pbx.example",
    "\ud800",
    "é" * 3000,
    "9" * 5000,
    "-1",
    "NaN",
    "null",
    "[]",
    "{}",
    "answered",
    "completed",
    "outbound",
    "outgoing",
    "<Response/>",
    "]]><x/>",
    "%ZZ",
]
_NAMES = [
    "timestamp",
    "Timestamp",
    "occurred_at",
    "time",
    "duration",
    "Duration",
    "CallDuration",
    "BillDuration",
    "billsec",
    "event",
    "status",
    "direction",
    "Direction",
    "DialCallStatus",
    "ParentCallSid",
    "hangup_cause",
    "HangupCause",
    "connectedToSystemTimestamp",
    "disconnectTimestamp",
    "user",
    "user[]",
    "answeringNumber",
]

texts = st.one_of(
    st.sampled_from(_TIMES + _STRINGS),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    texts,
    st.just(_HUGE),
    st.integers(min_value=33, max_value=2000).map(lambda depth: f"{_DEEP}{depth}"),
)
# A form is percent-encoded UTF-8, which has no lone surrogates ("\ud800" becomes "?").
form_texts = texts.map(lambda text: text.encode("utf-8", "replace").decode("utf-8"))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_NAMES) | st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=6,
)


def case_for(provider: str) -> VendorCase:
    case: VendorCase = importlib.import_module(f"tests.adapters.cases_{provider}").CASE
    return case


def url_for(provider: str) -> str:
    return f"https://stamgast.example.org/webhooks/{provider}/acme"


def _encode(document: object) -> bytes:
    def swap(match: re.Match[str]) -> str:
        if match.group(2):
            depth = int(match.group(2))
            return "[" * depth + "]" * depth
        return "9" * 5000

    return _PLACEHOLDER.sub(swap, json.dumps(document)).encode()


def _paths(document: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(document, dict):
        for key, value in document.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    return found


def _mutate_json(document: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _paths(document)
        if not paths:
            return data.draw(values)
        *parents, key = data.draw(st.sampled_from(paths))
        holder = document
        for step in parents:
            holder = holder[step]
        operation = data.draw(st.sampled_from(["set", "set", "delete", "add"]))
        if operation == "set":
            holder[key] = data.draw(values)
        elif operation == "delete":
            del holder[key]
        else:
            holder[data.draw(st.sampled_from(_NAMES))] = data.draw(values)
    return document


def _mutate_form(pairs: list[tuple[str, str]], data: st.DataObject) -> list[tuple[str, str]]:
    fields = dict(pairs)
    for _ in range(data.draw(st.integers(1, 4))):
        operation = data.draw(st.sampled_from(["set", "set", "delete", "add"]))
        if operation == "add" or not fields:
            fields[data.draw(st.sampled_from(_NAMES))] = data.draw(form_texts)
        elif operation == "set":
            fields[data.draw(st.sampled_from(sorted(fields)))] = data.draw(form_texts)
        else:
            del fields[data.draw(st.sampled_from(sorted(fields)))]
    return list(fields.items())


def garbage_request(provider: str, data: st.DataObject) -> AdapterRequest:
    """A correctly signed request for `provider` built from its case's body, made garbage."""
    url = url_for(provider)
    scenario = data.draw(st.sampled_from(SCENARIOS))
    valid = case_for(provider).request(scenario, f"fz-{uuid.uuid4().hex[:10]}", url)
    media = valid.content_type
    if media == FORM:
        pairs = _mutate_form(parse_qsl(valid.body.decode(), keep_blank_values=True), data)
        body = urlencode(pairs).encode()
    else:
        body = _encode(_mutate_json(json.loads(valid.body), data))
    if provider not in SIGNS_FIELDS:
        # Signed over the bytes: anything goes, under any content type.
        body = data.draw(
            st.sampled_from([body, body, body, b"", b"[" * 100_000, b"\xff\xfe{"])
            | st.binary(max_size=64)
        )
        media = data.draw(st.sampled_from([media, media, JSON, FORM, "", "multipart/form-data"]))
    return signed(provider, body, url=url, media=media)


def check_adapter(provider: str, config: AdapterConfig, request: AdapterRequest) -> None:
    adapter = ADAPTERS[provider]
    try:
        events = adapter.parse(request, config, now=utcnow())
    except SignatureError as exc:
        pytest.fail(f"{provider}: a correctly signed request was refused: {exc.message}")
    except AdapterError as exc:
        assert exc.message
    else:
        outcome = Outcome(recognised_name="Ada \x00<&>", language="nl", has_open_callback=True)
        answer = adapter.respond(request, config, events, outcome)
        assert 200 <= answer.status_code < 300, answer
    assert 200 <= adapter.fail_open(request, config).status_code < 300


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_signed_garbage_is_refused_or_answered(provider: str, data: st.DataObject) -> None:
    check_adapter(provider, case_for(provider).config, garbage_request(provider, data))


_NASTY: list[object] = [
    None,
    True,
    -1,
    2**70,
    1e308,
    [],
    {},
    _HUGE,
    f"{_DEEP}40",
    *_TIMES,
    *_STRINGS,
]
_NASTY_TEXTS = [value for value in _NASTY if isinstance(value, str) and "\x00deep" not in value]


def _every_field_nasty(provider: str) -> list[AdapterRequest]:
    """Each field of each scenario's body (and each well-known name added) set to each value."""
    url, requests = url_for(provider), []
    for scenario in ("ringing", "answered", "ended"):
        valid = case_for(provider).request(scenario, f"sw-{uuid.uuid4().hex[:10]}", url)
        if valid.content_type == FORM:
            pairs = parse_qsl(valid.body.decode(), keep_blank_values=True)
            for name in sorted({name for name, _ in pairs} | set(_NAMES)):
                for text in _NASTY_TEXTS:
                    text = text.replace(_HUGE, "9" * 5000).encode("utf-8", "replace").decode()
                    body = urlencode([*(p for p in pairs if p[0] != name), (name, text)]).encode()
                    requests.append(signed(provider, body, url=url, media=FORM))
            continue
        document = json.loads(valid.body)
        holders = [()] + [path for path in _paths(document) if _is_dict_at(document, path)]
        targets = _paths(document) + [(*holder, name) for holder in holders for name in _NAMES]
        for target in targets:
            for value in _NASTY:
                changed = json.loads(valid.body)
                holder = changed
                for step in target[:-1]:
                    holder = holder[step]
                holder[target[-1]] = value
                requests.append(signed(provider, _encode(changed), url=url, media=JSON))
    return requests


def _is_dict_at(document: Any, path: tuple[Any, ...]) -> bool:
    for step in path:
        document = document[step]
    return isinstance(document, dict)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_field_with_every_nasty_value(provider: str) -> None:
    config = case_for(provider).config
    for request in _every_field_nasty(provider):
        check_adapter(provider, config, request)


def _fixed_garbage(provider: str) -> list[bytes]:
    """Bodies that broke adapters before: deep nesting, times out of range, NUL bytes."""
    valid = case_for(provider).request("ringing", f"e2e-{uuid.uuid4().hex[:10]}", url_for(provider))
    if valid.content_type == FORM:
        pairs = parse_qsl(valid.body.decode(), keep_blank_values=True)
        return [
            urlencode([*pairs, (name, value)]).encode()
            for name, value in [
                ("duration", "9" * 30),
                ("Timestamp", "Fri, 31 Dec 9999 23:59:59 -1200"),
                ("user[]", "\x00"),
            ]
        ] + [urlencode([(name, value + "\x00") for name, value in pairs]).encode()]
    document = json.loads(valid.body)
    nested = {**document, "extra": f"{_DEEP}5000"}
    bodies = [_encode(nested), b"[" * 50_000]
    for key in _paths(document):
        if any("time" in str(part).lower() or "occurred" in str(part) for part in key):
            stamped = json.loads(valid.body)
            holder = stamped
            for step in key[:-1]:
                holder = holder[step]
            holder[key[-1]] = "9999-12-31T23:59:59-12:00"
            bodies.append(_encode(stamped))
    bodies.append(_encode({**document, "occurred_at": "9999-12-31T23:59:59-12:00"}))
    return bodies


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_signed_garbage_through_the_endpoint(
    provider: str, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    case = case_for(provider)
    config = {"secret": case.config.secret, "options": dict(case.config.options)}
    assert (await api.put(f"/v1/providers/{provider}", json=config)).status_code == 200
    url = f"http://testserver/webhooks/{provider}/{tenant.slug}"
    media = case.request("ringing", "x", url).content_type
    for body in _fixed_garbage(provider):
        request = signed(provider, body, url=url, media=media)
        response = await client.post(url, headers=dict(request.headers), content=body)
        assert response.status_code < 500, (provider, body[:200], response.text)
        if response.status_code >= 400:
            assert response.json()["message"], response.text
