"""Recorded webhook requests under `tests/fixtures/<vendor>/`, each naming where it came from.

A fixture file is a header of `# key: value` lines, one blank line, then the body exactly
as the vendor sends it (bytes kept, no trailing newline added)::

    # source: https://github.com/twilio/twilio-python/blob/<commit>/tests/unit/test_request_validator.py
    # authored-by: vendor
    # method: POST
    # content-type: application/x-www-form-urlencoded
    # url: https://mycompany.com/myapp.php?foo=1&bar=2
    # note: the example from the SDK's validator test, parameters as in its docstring

    CallSid=CA1234567890ABCDE&Caller=%2B14158675309&...

Keys: `source` (required, may repeat: repository + path + commit, or a documentation URL),
`authored-by` (required: `vendor` when the body is the vendor's own published material or a
capture from a real system, `ours` when we wrote it for an edge case), `method`,
`content-type`, `url` (the URL form the vendor signs, when it matters), `note` (may repeat).
Line-based stream captures (AMI, ESL) use the same header; their body is the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_REPEATABLE = frozenset({"source", "note"})
_KNOWN = frozenset({"source", "authored-by", "method", "content-type", "url", "note"})


class FixtureFormatError(ValueError):
    """A fixture file without a proper provenance header."""


@dataclass(frozen=True)
class VendorFixture:
    """One recorded request (or stream capture) and where it came from."""

    path: Path
    sources: tuple[str, ...]
    authored_by: Literal["vendor", "ours"]
    body: bytes
    method: str = "POST"
    content_type: str | None = None
    url: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")


def load(vendor: str, name: str) -> VendorFixture:
    """The fixture `tests/fixtures/<vendor>/<name>`."""
    return parse(FIXTURES / vendor / name)


def parse(path: Path) -> VendorFixture:
    """Read one fixture file; raises FixtureFormatError when its header is incomplete."""
    raw = path.read_bytes()
    header, sep, body = raw.partition(b"\n\n")
    if not sep:
        raise FixtureFormatError(f"{path}: no blank line between header and body")
    values: dict[str, list[str]] = {}
    for line in header.decode("utf-8").splitlines():
        if not line.startswith("# ") or ":" not in line:
            raise FixtureFormatError(f"{path}: header line is not '# key: value': {line!r}")
        key, _, value = line[2:].partition(":")
        key = key.strip().lower()
        if key not in _KNOWN:
            raise FixtureFormatError(f"{path}: unknown header key {key!r}")
        if key not in _REPEATABLE and key in values:
            raise FixtureFormatError(f"{path}: header key {key!r} given twice")
        values.setdefault(key, []).append(value.strip())
    sources = tuple(values.get("source", ()))
    if not sources or not all(sources):
        raise FixtureFormatError(f"{path}: no '# source:' line")
    authored = (values.get("authored-by") or [""])[0]
    if authored not in ("vendor", "ours"):
        raise FixtureFormatError(f"{path}: '# authored-by:' must be 'vendor' or 'ours'")
    return VendorFixture(
        path=path,
        sources=sources,
        authored_by=authored,  # type: ignore[arg-type]
        body=body,
        method=(_first(values, "method") or "POST").upper(),
        content_type=_first(values, "content-type"),
        url=_first(values, "url"),
        notes=tuple(values.get("note", ())),
    )


def _first(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[0] if found else None


def all_fixtures(vendor: str) -> list[VendorFixture]:
    """Every fixture of one vendor, sorted by file name."""
    folder = FIXTURES / vendor
    return [parse(path) for path in sorted(folder.iterdir()) if path.is_file()]
