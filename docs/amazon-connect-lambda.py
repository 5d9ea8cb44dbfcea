"""Relays Amazon Connect events to Stamgast and hands Stamgast's answer to the contact flow.

Deploy as a Python 3.11+ Lambda function (standard library only; handler
``lambda_function.lambda_handler`` once saved as ``lambda_function.py``), timeout 3 s.

Environment:
    STAMGAST_URL     the webhook URL Stamgast shows for the ``amazon_connect`` provider,
                     e.g. https://stamgast.example.org/webhooks/amazon_connect/acme
    STAMGAST_SECRET  the secret configured for that provider in Stamgast

In the contact flow, add the function to the Connect instance and use "Invoke AWS Lambda
function" early on (before "Transfer to queue"); then branch on ``$.External.recognised``,
``$.External.callerName``, ``$.External.callerLanguage`` and ``$.External.hasOpenCallback``.
An optional function input parameter ``extension`` names the extension the call will ring.

Optionally make the same function the target of an EventBridge rule for source
``aws.connect``, detail type "Amazon Connect Contact Event": Stamgast then also learns when an
agent answers and when the call ends (its answer is ignored there).

Any failure (no configuration, Stamgast slow, down or refusing) returns DEFAULT_RESPONSE, so
the flow always continues on its "unknown caller" branch within the timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import urllib.request
from typing import Any

logger = logging.getLogger(__name__)

# Far below Connect's 8 s limit for a flow's Lambda, so the caller never waits long.
TIMEOUT_SECONDS = 2.0
# Stamgast's answer is a handful of short strings; refuse to read more than this.
MAX_RESPONSE_BYTES = 32_768
DEFAULT_RESPONSE = {
    "callerName": "",
    "callerLanguage": "",
    "hasOpenCallback": "false",
    "recognised": "false",
}


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Stamgast's generic HMAC headers: v1=hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))."""
    message = str(timestamp).encode("ascii") + b"." + body
    signature = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return {"X-Stamgast-Timestamp": str(timestamp), "X-Stamgast-Signature": f"v1={signature}"}


def _flat(answer: Any) -> dict[str, str]:
    # A contact flow accepts only a flat map of strings: keep those, fill in missing keys.
    strings = {}
    if isinstance(answer, dict):
        strings = {k: v for k, v in answer.items() if isinstance(k, str) and isinstance(v, str)}
    return {**DEFAULT_RESPONSE, **strings}


def lambda_handler(event: Any, context: Any) -> dict[str, str]:
    """Post `event` to Stamgast, signed; return its flat answer or DEFAULT_RESPONSE."""
    try:
        url = os.environ["STAMGAST_URL"]
        secret = os.environ["STAMGAST_SECRET"]
        if not url.startswith(("https://", "http://")):
            raise ValueError("STAMGAST_URL must be an http(s) URL")
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        headers.update(signed_headers(secret, body, int(time.time())))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read(MAX_RESPONSE_BYTES))
        return _flat(answer)
    except Exception as exc:
        # Only the error's type and text: the event holds the caller's phone number.
        logger.warning("Stamgast unavailable, flow continues as unknown caller: %r", exc)
        return dict(DEFAULT_RESPONSE)
