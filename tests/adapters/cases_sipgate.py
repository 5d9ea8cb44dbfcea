"""sipgate.io pushes for the shared contract test, signed with a key pair of our own.

sipgate ships no Python validator; its pushes are RSA-SHA256 (PKCS#1 v1.5) signatures over
the raw body, so the tests sign with `cryptography` and configure the matching public key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """The PEM (SubjectPublicKeyInfo) of a key pair's public half, as a tenant pastes it."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(body: bytes, key: rsa.RSAPrivateKey = PRIVATE_KEY) -> str:
    """X-Sipgate-Signature for `body`: base64 RSA-SHA256, PKCS#1 v1.5."""
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def _params(scenario: Scenario, call_id: str) -> list[tuple[str, str]]:
    call = [("callId", call_id), ("from", "31612345678"), ("to", "31331234567")]
    if scenario == "ringing":
        return [("event", "newCall"), *call, ("direction", "in"), ("user[]", "Sanne Visser"),
                ("userId[]", "201"), ("fullUserId[]", "1234567201")]  # fmt: skip
    if scenario == "answered":
        return [("event", "answer"), *call, ("direction", "in"), ("user", "Sanne Visser"),
                ("userId", "201"), ("answeringNumber", "31331234567")]  # fmt: skip
    if scenario == "ended":
        return [("event", "hangup"), ("cause", "normalClearing"), *call, ("direction", "in")]
    return [("event", "dtmf"), ("dtmf", "1"), ("callId", call_id)]


@dataclass
class SipgateCase:
    provider: str = "sipgate"
    config: AdapterConfig = field(
        default_factory=lambda: AdapterConfig(secret=public_pem(PRIVATE_KEY))
    )
    has_timestamp: bool = False

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        body = urlencode(_params(scenario, call_id)).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if not signing.unsigned:
            # Signing.key names "some other key": sign with another key pair.
            headers["x-sipgate-signature"] = sign(body, OTHER_KEY if signing.key else PRIVATE_KEY)
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = SipgateCase()
