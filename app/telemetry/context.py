"""The fields of what is being served, for every log line written while serving it.

One mutable dict per request in a context variable: the route, the receiver, the API gate
and the stream routes add to it, and tasks started while serving (the receiver records in
a task of its own) share the same dict, so the call id they learn reaches the access line
the route's response writes. Binding is a dict update: nothing is formatted until a line
is actually written.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

# The order in which the fields appear in a line (text) and are documented.
FIELDS = ("request_id", "tenant", "tenant_id", "provider", "call_id", "agent_id", "outcome")

_fields: ContextVar[dict[str, Any] | None] = ContextVar("stamgast_log_fields", default=None)


def begin(**fields: Any) -> Token[dict[str, Any] | None]:
    """Start the fields of a new request (or connection) in the current context."""
    return _fields.set(fields)


def end(token: Token[dict[str, Any] | None]) -> None:
    """Back to the fields before `begin`."""
    _fields.reset(token)


def bind(**fields: Any) -> None:
    """Add to the current request's fields (or start them, outside a request)."""
    current = _fields.get()
    if current is None:
        _fields.set(fields)
    else:
        current.update(fields)


def bind_default(key: str, value: Any) -> None:
    """Set a field unless something more precise was bound already."""
    current = _fields.get()
    if current is None:
        _fields.set({key: value})
    else:
        current.setdefault(key, value)


def current() -> dict[str, Any]:
    """The fields bound so far (empty outside a request); do not change the result."""
    return _fields.get() or {}
