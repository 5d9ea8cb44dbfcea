"""Vonage signed callbacks: an HS256 bearer JWT whose payload_hash covers what was sent.

``Authorization: Bearer <JWT>``, HS256 with the account's signature secret, claims
``iat``, ``jti``, ``iss``, ``payload_hash``, ``api_key``, ``application_id``. We check the HMAC
ourselves, refuse an ``iat`` more than 300 s away from now, and require ``payload_hash`` (SHA-256
hex) to match one reading of what was sent: the raw body, or the compact JSON of the parsed
query and body merged, as Vonage's own samples recompute it. For GET (the default answer method)
Vonage support describes the compact JSON of the query parameters in their order, and only that
is accepted: the hash of an empty payload would leave the query, all a GET says, unsigned.

What Vonage publishes: its webhooks guide ("Decoding signed webhooks") says only to compare "a
SHA-256 hash of the payload" with ``payload_hash``, naming no bytes, and its Python SDK's
``vonage_jwt.verify_signature`` checks the HMAC alone (PyJWT ``decode`` with HS256), never the
hash, ``iat`` or ``exp`` beyond PyJWT's own ``exp`` check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from telephony_adapters.base import AdapterRequest, PayloadError, SignatureError, parse_json

# Wide enough for clock drift and a retry, narrow enough that a captured token soon goes stale.
MAX_SKEW_SECONDS = 300
# Vonage's tokens are ~450 characters (six short claims); the cap keeps an unauthenticated
# caller from making us decode megabytes before the HMAC check can refuse them.
MAX_TOKEN_CHARS = 4096
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def shown(value: object, limit: int = 40) -> str:
    """A received value quoted for an error message, cut short when long."""
    # Echo what we received so the integrator can spot it, but never a whole hostile value.
    text = value if isinstance(value, str) else repr(value)
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


def _b64url(segment: str, what: str) -> bytes:
    try:
        return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"the JWT's {what} is not base64url") from None


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        document = parse_json(_b64url(segment, what), f"the JWT's {what}")
    except PayloadError as exc:
        # Unauthenticated as yet (the header is read before the HMAC): a 401, never a 500.
        raise SignatureError(exc.message) from None
    if not isinstance(document, dict):
        raise SignatureError(f"the JWT's {what} is not a JSON object")
    return document


def _compact(document: object) -> bytes:
    # JSON.stringify's output: no whitespace, non-ASCII left as is, keys in received order.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _payload_hashes(request: AdapterRequest) -> set[str]:
    try:
        # One value per name, a list when repeated: the query as a JS server parses it.
        query = {name: vs[0] if len(vs) == 1 else vs for name, vs in request.query().items()}
    except PayloadError:
        query = {}
    if request.method.upper() in ("GET", "HEAD"):
        # Only the query's own hash covers a GET: the empty body's hash would let one
        # captured token carry any query (any caller, any call) for five minutes.
        texts = [_compact(query)] if query else [_compact(query), b""]
    else:
        texts = [request.body]
        try:
            body = parse_json(request.body)
        except PayloadError:
            body = None
        if isinstance(body, dict):
            texts += [_compact({**query, **body}), _compact(body)]
    return {hashlib.sha256(text).hexdigest() for text in texts}


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def verify_vonage(request: AdapterRequest, secret: str, *, now: datetime) -> dict[str, Any]:
    """Check the bearer JWT, its age and its payload_hash; returns the claims."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    header = request.headers.get("authorization")
    if header is None:
        raise SignatureError(
            "missing Authorization header: Vonage sends 'Bearer <JWT>' on signed callbacks"
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise SignatureError("Authorization header must be 'Bearer <JWT>'")
    if len(token) > MAX_TOKEN_CHARS:
        raise SignatureError(
            f"the bearer token is {len(token)} characters; Vonage's JWTs are far below "
            f"{MAX_TOKEN_CHARS}"
        )
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise SignatureError("the bearer token is not a JWT (header.payload.signature)")
    algorithm = _json_segment(parts[0], "header").get("alg")
    if algorithm != "HS256":
        # Never let the token choose its own check ("none", or RS256 keyed with our secret).
        raise SignatureError(f"the JWT must be signed with HS256; its alg is {shown(algorithm)}")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url(parts[2], "signature")):
        raise SignatureError(
            "the JWT's signature does not match: check the Vonage signature secret "
            "(Dashboard → API settings), not the API secret"
        )
    claims = _json_segment(parts[1], "payload")
    issued = _number(claims, "iat")
    if issued is None:
        raise SignatureError('the JWT has no numeric "iat" claim')
    age = now.timestamp() - issued
    if age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"the JWT is {age:.0f} s old; at most {MAX_SKEW_SECONDS} s is accepted"
        )
    if -age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"the JWT is issued {-age:.0f} s in the future; at most {MAX_SKEW_SECONDS} s is "
            "accepted (check our clock)"
        )
    expires = _number(claims, "exp")
    if expires is not None and now.timestamp() - expires > MAX_SKEW_SECONDS:
        raise SignatureError("the JWT has expired")
    claimed = claims.get("payload_hash")
    if not isinstance(claimed, str):
        raise SignatureError('the JWT has no "payload_hash" claim')
    claimed = claimed.strip().lower()
    if claimed not in _payload_hashes(request):
        if claimed == _EMPTY_HASH and request.method.upper() in ("GET", "HEAD"):
            raise SignatureError(
                "payload_hash covers an empty payload, not this GET's query string, so the "
                "query could have been altered: set the answer and event methods of the Vonage "
                "application to POST"
            )
        raise SignatureError("payload_hash does not match the request (altered in transit?)")
    return claims
