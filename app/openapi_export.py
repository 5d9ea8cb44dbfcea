"""The committed OpenAPI document, generated from the code so it cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import yaml

OUT_OF_DATE = "openapi.yaml is out of date: run `stamgast openapi`"


def render_openapi() -> str:
    """The application's OpenAPI document as YAML, byte-for-byte the same on every run."""
    # Imported here: building the app reads settings, which the CLI may have changed first.
    from app.main import create_app

    spec = create_app().openapi()
    return yaml.safe_dump(
        spec, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def is_current(path: Path) -> bool:
    """True when the file at `path` holds exactly what `render_openapi` produces now."""
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return committed == render_openapi()


def write_openapi(path: Path) -> None:
    """Write the document to `path` (LF line endings, UTF-8)."""
    path.write_text(render_openapi(), encoding="utf-8", newline="\n")
