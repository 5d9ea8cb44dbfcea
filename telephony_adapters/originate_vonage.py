"""Vonage: the Voice API calls the agent, whose NCCO `connect`s the caller from our line.

https://developer.vonage.com/en/api/voice#createCall (POST /v1/calls), authenticated by a
JWT the application signs with its private key (RS256; claims as vonage-jwt makes them:
application_id, iat, jti, exp), https://developer.vonage.com/en/getting-started/concepts/authentication#json-web-tokens
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from telephony_adapters.originate import (
    CallBack,
    CredentialsProblem,
    HttpCall,
    NoAgentPhone,
    OriginateRefused,
    json_object,
    required,
)

BASE_URL = "https://api.nexmo.com"
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# vonage-jwt's default lifetime; the token is made per request, so it never needs more.
TOKEN_SECONDS = 15 * 60
RULES = {
    "application_id": (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "the Voice application's id (a UUID) from the Vonage dashboard",
    ),
    "private_key": (
        r"-----BEGIN (RSA )?PRIVATE KEY-----.+-----END (RSA )?PRIVATE KEY-----",
        "the application's private.key, PEM, as downloaded (-----BEGIN PRIVATE KEY-----…)",
    ),
}


class VonageOriginator:
    """Vonage Voice API: `to` the agent, an NCCO connecting the callee from our line."""

    provider: str = "vonage"
    credential_names: tuple[str, ...] = ("application_id", "private_key")

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """The application id and its RSA private key (the webhook secret only verifies)."""
        problems = required(credentials, RULES)
        if not problems:
            try:
                _private_key(credentials["private_key"])
            except CredentialsProblem as exc:
                problems.append(exc.message)
        return problems

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """POST /v1/calls, JSON, `Authorization: Bearer <application JWT>`."""
        agent = _endpoint(call)
        line = call.caller_id.lstrip("+")  # Vonage writes numbers without the plus
        body = {
            "to": [agent],
            "from": {"type": "phone", "number": line},
            "ncco": [
                {
                    "action": "connect",
                    "from": line,
                    "endpoint": [{"type": "phone", "number": call.callee.lstrip("+")}],
                }
            ],
            "ringing_timer": call.ring_seconds,
        }
        token = application_jwt(
            credentials["application_id"].strip(), credentials["private_key"], now=time.time()
        )
        return HttpCall(
            method="POST",
            url=f"{base_url.rstrip('/')}/v1/calls",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=json.dumps(body).encode(),
        )

    def call_id(self, status: int, body: bytes) -> str:
        """Vonage answers 201 with the call's `uuid`."""
        answer = json_object("Vonage", status, body)
        call_uuid = answer.get("uuid")
        if not isinstance(call_uuid, str):
            raise OriginateRefused(f"Vonage answered HTTP {status} without a call uuid")
        return call_uuid


def _endpoint(call: CallBack) -> dict[str, str]:
    if call.agent.number is not None:
        return {"type": "phone", "number": call.agent.number.lstrip("+")}
    if call.agent.sip_uri is not None:
        return {"type": "sip", "uri": call.agent.sip_uri}
    raise NoAgentPhone("Vonage can ring a phone number or a SIP URI; the agent has neither")


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    # Imported here: most servers never call back through Vonage, and cryptography costs
    # ~6 MiB resident (bench/import_memory.py).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise CredentialsProblem(
            "`private_key` is not a readable PEM private key without a passphrase"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsProblem("`private_key` must be the application's RSA key (RS256)")
    return key


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def application_jwt(application_id: str, private_key_pem: str, *, now: float) -> str:
    """An RS256 JWT for the application, with the claims vonage-jwt gives one."""
    issued = int(now)
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "application_id": application_id,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "exp": issued + TOKEN_SECONDS,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = _private_key(private_key_pem).sign(
        signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{signing_input}.{_b64url(signature)}"
