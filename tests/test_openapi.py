"""The committed openapi.yaml is exactly what the code generates."""

from __future__ import annotations

import pytest

from app.migrate import PROJECT_ROOT
from app.openapi_export import OUT_OF_DATE, render_openapi


def test_committed_openapi_matches_the_code() -> None:
    committed = PROJECT_ROOT / "openapi.yaml"
    if not committed.exists() or committed.read_text(encoding="utf-8") != render_openapi():
        pytest.fail(OUT_OF_DATE, pytrace=False)


def test_rendering_is_deterministic() -> None:
    assert render_openapi() == render_openapi()
