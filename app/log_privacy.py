"""Keep personal data and credentials out of access logs.

uvicorn logs every request line with its query string; ours can carry a caller's number
(`/v1/lookup?number=…`) or an agent token (`/v1/stream?token=…`, browsers cannot send
headers on WebSockets). The filter masks both before the line is written.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

from app.phone import mask

_SECRET_PARAMS = re.compile(r"(?P<key>[?&](?:token|api_key)=)[^&\s]*")
_NUMBER_PARAMS = re.compile(r"(?P<key>[?&](?:number|called|from|to)=)(?P<value>[^&\s]*)")


def redact(text: str) -> str:
    """The request line with tokens hidden and phone numbers masked."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m['key']}***", text)
    return _NUMBER_PARAMS.sub(
        lambda m: m["key"] + quote(mask(unquote(m["value"])), safe="*+ "), text
    )


class AccessLogRedaction(logging.Filter):
    """Rewrites uvicorn's access-log arguments through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) and "=" in arg else arg for arg in record.args
            )
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())
