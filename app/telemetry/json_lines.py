"""Log lines as JSON (one object a line) or as text, both carrying the request's fields.

Every value a JSON line carries goes through the same masking as our text lines
(`app.log_privacy`): query-string tokens hidden, numbers in `number=`/`from=`/… masked, and
any run of seven digits or more masked as a phone number, in the message, the context, the
exception and any `extra=`. Integers and other non-strings pass as they are: our code holds
phone numbers only as strings, and ids and counts must stay exact.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from uvicorn.logging import AccessFormatter, DefaultFormatter

from app.log_privacy import mask_numbers, redact
from app.telemetry import context

_ACCESS = "uvicorn.access"


def masked(value: Any) -> Any:
    """A log value with tokens hidden and phone numbers masked, however deeply nested."""
    if isinstance(value, str):
        return mask_numbers(redact(value)) if value else value
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


class JsonLines(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the request's fields.

    uvicorn's access lines also carry `method`, `path`, `status` and `client` as fields.
    """

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The standard fields, the request's fields, and an access line's parts."""
        # First, so a reader's eye (and `sort`) finds it there; UTC with milliseconds.
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        for key, value in context.current().items():
            log_data.setdefault(key, value)
        if record.name == _ACCESS and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            log_data.update(client=client, method=method, path=path, status=status)
        # Our own lines carry the record's extras; uvicorn puts a colour flag there.
        log_data.pop("color_message", None)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Every value masked, just before it is written."""
        return {key: masked(value) for key, value in log_data.items()}


def _suffix() -> str:
    fields = context.current()
    if not fields:
        return ""
    shown = " ".join(f"{key}={masked(fields[key])}" for key in context.FIELDS if key in fields)
    return f" [{shown}]" if shown else ""


class TextLines(DefaultFormatter):
    """uvicorn's look for a terminal, with the request's fields after the message."""

    def __init__(self, use_colors: bool | None = None) -> None:
        super().__init__("%(levelprefix)s %(name)s: %(message)s", use_colors=use_colors)

    def format(self, record: logging.LogRecord) -> str:
        """The line, masked, then the request's fields."""
        return mask_numbers(super().format(record)) + _suffix()


class TextAccessLines(AccessFormatter):
    """uvicorn's access line for a terminal, with the request's fields after it."""

    def __init__(self, use_colors: bool | None = None) -> None:
        super().__init__(
            '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            use_colors=use_colors,
        )

    def format(self, record: logging.LogRecord) -> str:
        """uvicorn's access line, masked, and the fields."""
        return mask_numbers(super().format(record)) + _suffix()
