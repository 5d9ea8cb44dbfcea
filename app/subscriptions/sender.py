"""One delivery over HTTP, signed as Standard Webhooks says, with the `standardwebhooks`
library itself: any receiver verifies it with the same library, in any language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from standardwebhooks.webhooks import Webhook

if TYPE_CHECKING:  # imported by the first delivery (see DeliveryWorker.client)
    import httpx

USER_AGENT = "Stamgast-Webhooks/1"
ERROR_LIMIT = 300


def signed_headers(
    message_id: str, payload: str, secrets: list[str], at: datetime
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and one `v1,` signature per secret (a rotation's
    overlap signs with both: the receiver accepts whichever it knows)."""
    signatures = " ".join(Webhook(secret).sign(message_id, at, payload) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@dataclass(frozen=True, slots=True)
class Result:
    """How one try went: delivered (a 2xx) or not, and why."""

    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: int


async def send(
    client: httpx.AsyncClient, url: str, payload: str, headers: dict[str, str], seconds: float
) -> Result:
    """POST the body; any 2xx delivers it, anything else (or no answer in time) does not."""
    import httpx

    started = time.monotonic()
    try:
        response = await client.post(
            url, content=payload.encode(), headers=headers, timeout=seconds
        )
    except httpx.TimeoutException:
        error = f"no answer within {seconds:g} s"
        return Result(False, None, error, _ms(started))
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT] or type(exc).__name__
        return Result(False, None, error, _ms(started))
    if 200 <= response.status_code < 300:
        return Result(True, response.status_code, None, _ms(started))
    error = f"answered {response.status_code}: {response.text[:200]}"[:ERROR_LIMIT]
    return Result(False, response.status_code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
