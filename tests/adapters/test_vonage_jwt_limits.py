"""A hostile bearer token on the Vonage webhook: one 401 and one log line, never a 500.

The JWT header is read before the HMAC can be checked, so whatever it holds is unauthenticated:
a 1,000-deep header used to raise RecursionError (a 500 and a long traceback in the log).
"""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest

from tests.adapters import cases_vonage
from tests.conftest import TenantCtx


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


PAYLOAD = _segment(b'{"iat": 1}')
SIGNATURE = "c2ln"


def _token(header: bytes, payload: str = PAYLOAD) -> str:
    return f"{_segment(header)}.{payload}.{SIGNATURE}"


TOKENS = {
    "1,000-deep header": _token(b"[" * 1000 + b"]" * 1000),
    "40-deep header": _token(b'{"a":' * 40 + b"1" + b"}" * 40),
    "header with NaN": _token(b'{"alg": NaN}'),
    "40 kB token": _token(b'{"alg":"HS256"}', "A" * 40_000),
}


@pytest.mark.parametrize("what", sorted(TOKENS))
async def test_hostile_token_is_one_401(
    what: str,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"secret": cases_vonage.SECRET}
    assert (await api.put("/v1/providers/vonage", json=body)).status_code == 200
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = await client.post(
        f"/webhooks/vonage/{tenant.slug}",
        content=json.dumps({"status": "ringing"}),
        headers={"authorization": f"Bearer {TOKENS[what]}", "content-type": "application/json"},
    )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "bad_signature"
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert len(caplog.records) <= 1, [record.getMessage() for record in caplog.records]
