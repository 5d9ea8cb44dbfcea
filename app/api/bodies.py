"""Request bodies read within a limit, and JSON bodies checked before any route sees them."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from app.errors import invalid_field

MAX_JSON_DEPTH = 32
"""Our deepest schema nests 4 levels; free-form `extra` gets room, not 500 levels (pydantic
then fails to serialise the stored value: a 500 after the row is committed)."""

NUL_PROBLEM = "contains a NUL character (\\u0000), which cannot be stored: remove it"
JSON_HINT = "the body must be a JSON document, sent with Content-Type: application/json"


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (never buffered beyond it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def is_json_media_type(content_type: str | None) -> bool:
    """application/json or a +json type, as FastAPI decides whether to parse a body."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def check_json(body: bytes) -> None:
    """InvalidInput unless `body` is JSON, at most MAX_JSON_DEPTH deep, without NUL characters.

    PostgreSQL cannot store U+0000 in text or jsonb: left to the database, it is a 500.
    """
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise invalid_field("body", f"is not UTF-8 text: {JSON_HINT}") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise invalid_field("body", f"not valid JSON at {where} ({exc.msg}): {JSON_HINT}") from None
    except RecursionError:
        raise _too_deep("body") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise invalid_field("body", f"cannot be read as JSON ({exc}): {JSON_HINT}") from None
    _walk(document)


def _walk(document: Any) -> None:
    # Iterative, so a deep document cannot exhaust the stack here either.
    pending: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        field = ".".join(path) or "body"
        if len(path) > MAX_JSON_DEPTH:
            raise _too_deep(field)
        if isinstance(value, str):
            if "\x00" in value:
                raise invalid_field(field, NUL_PROBLEM)
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise invalid_field(field, f"a key {NUL_PROBLEM}")
                pending.append((item, (*path, key)))
        elif isinstance(value, list):
            pending.extend((item, (*path, str(i))) for i, item in enumerate(value))


def _too_deep(field: str) -> Exception:
    return invalid_field(
        field, f"nests deeper than {MAX_JSON_DEPTH} levels of objects and arrays: flatten it"
    )
