"""Keep personal data and credentials out of access logs.

uvicorn logs every request line with its query string; ours can carry a caller's number
(`/v1/lookup?number=…`) or an agent token (`/v1/stream?token=…`, browsers cannot send
headers on WebSockets). The filter masks both before the line is written; uvicorn writes
its WebSocket request lines ("WebSocket /v1/stream?token=…" [accepted]) to `uvicorn.error`,
so the filter sits there too.

Our own log lines about a failure name the exception through `describe_error`: a
database error's text carries the SQL's parameters, and those include callers' numbers.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

from app.phone import mask

_SECRET_PARAMS = re.compile(r"(?P<key>[?&](?:token|api_key)=)[^&\s]*")
_NUMBER_PARAMS = re.compile(r"(?P<key>[?&](?:number|called|from|to)=)(?P<value>[^&\s]*)")
# Seven digits or more in a row: a phone number (E.164 or national) in free text. Shorter
# runs are kept, so ids, years and times stay readable.
_DIGIT_RUNS = re.compile(r"\+?\d{7,}")
# uvicorn's access lines (HTTP) and its WebSocket request lines.
_REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """The request line with tokens hidden and phone numbers masked."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m['key']}***", text)
    return _NUMBER_PARAMS.sub(
        lambda m: m["key"] + quote(mask(unquote(m["value"])), safe="*+ "), text
    )


def mask_numbers(text: str) -> str:
    """Free text with every phone-number-like run of digits masked."""
    return _DIGIT_RUNS.sub(lambda m: mask(m[0]), text)


def describe_error(exc: BaseException) -> str:
    """An exception for a log line: its type and first line, masked, without the SQL.

    SQLAlchemy's message repeats the statement and its parameters (a caller's number, a
    name) on the lines after the first; the driver's own error (`orig`) says what went
    wrong without them.
    """
    cause = getattr(exc, "orig", None) or exc
    first = next(iter(str(cause).splitlines()), "")
    name = type(exc).__name__
    return f"{name}: {mask_numbers(first)}" if first else name


class AccessLogRedaction(logging.Filter):
    """Rewrites uvicorn's access-log arguments through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) and "=" in arg else arg for arg in record.args
            )
        return True


def install() -> None:
    """Add the filter to uvicorn's request loggers once per process."""
    for name in _REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
            logger.addFilter(AccessLogRedaction())
