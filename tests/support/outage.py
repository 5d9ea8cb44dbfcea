"""Stand-ins for a database that has gone away, for fail-open and held-delivery tests."""

from __future__ import annotations

from typing import Any


async def database_down(*_args: Any, **_kwargs: Any) -> None:
    """Replaces a lookup (e.g. `ProviderDirectory.find`) while the database is unreachable."""
    raise ConnectionRefusedError("database down")
