"""Streaming readers: a CSV or vCard file becomes `SourceRecord`s one at a time.

Nothing is read ahead beyond the csv module's and the text layer's buffers, so memory does
not depend on the file's size. Line numbers are the file's physical lines (the header is
line 1); a record spanning lines (a quoted note with line breaks) has the line it starts on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from app.importer.errors import UnusableInput
from app.importer.fields import (
    NUMBER_FIELDS,
    REF_PREFIX,
    TEXT_FIELDS,
    RawNumber,
    SourceRecord,
    has_name,
    header_key,
    target_for_header,
)
from app.importer.textfile import TextFile

FORMATS = ("csv", "vcard")
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".vcf": "vcard", ".vcard": "vcard"}
# Several numbers in one cell: "06-12345678; 020-1234567". A slash only between spaces, since
# "020/1234567" is one number written area code / subscriber.
_MULTI_NUMBER = re.compile(r"\s*[;,|]\s*|\s+/\s+")
_URI_NUMBER = ("sip:", "sips:", "tel:")


class Source(Protocol):
    """What the importer needs of a reader."""

    format: str
    encoding: str
    delimiter: str | None
    total_bytes: int
    ignored: list[str]

    def records(self) -> Iterator[SourceRecord]:
        """Each row or card, in file order."""
        ...

    def bytes_read(self) -> int:
        """Bytes consumed so far."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


def open_source(
    path: Path,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    maps: Sequence[tuple[str, str]] = (),
) -> Source:
    """The reader for `path`; UnusableInput when it cannot be read or has no name column."""
    if not path.is_file():
        raise UnusableInput(f"{path} is not a file" if path.exists() else f"{path} not found")
    text = TextFile(path)
    try:
        chosen = _format_of(path, format, text.head)
        if chosen == "vcard":
            from app.importer.vcard import VcardSource

            return VcardSource(text, maps=maps)
        return CsvSource(text, delimiter=delimiter, maps=maps)
    except BaseException:
        text.close()
        raise


class CsvSource:
    """Rows of a CSV file with a header line, mapped to fields by header name and `--map`."""

    format = "csv"

    def __init__(
        self, text: TextFile, *, delimiter: str | None, maps: Sequence[tuple[str, str]]
    ) -> None:
        self._file = text
        self.encoding = text.encoding
        self.total_bytes = text.total_bytes
        first = text.text.readline()
        if not first.strip():
            raise UnusableInput("the file is empty: expected a header line with column names")
        chosen = _delimiter(delimiter, first)
        self.delimiter: str | None = chosen
        headers = next(csv.reader([first], delimiter=chosen))
        self._width = len(headers)
        assigned, self.ignored = _assign_columns(headers, maps)
        if not has_name(assigned.values()):
            raise UnusableInput(
                "no name column: expected one of Naam/Name, Voornaam/First name + "
                "Achternaam/Last name, or --map display_name=<header>; "
                f"the header has: {', '.join(repr(h) for h in headers)}"
            )
        self._text_columns = [(t, i) for i, t in assigned.items() if t in TEXT_FIELDS]
        self._numbers = [(i, *NUMBER_FIELDS[t]) for i, t in assigned.items() if t in NUMBER_FIELDS]
        self._references = [
            (t.removeprefix(REF_PREFIX), i) for i, t in assigned.items() if t.startswith(REF_PREFIX)
        ]
        self._multiline_ok = {i for i, t in assigned.items() if t == "notes"}

    def bytes_read(self) -> int:
        """Bytes consumed so far."""
        return self._file.bytes_read()

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def records(self) -> Iterator[SourceRecord]:
        """Each non-blank row after the header."""
        reader = csv.reader(self._file.text, delimiter=self.delimiter or ",")
        end = 1  # the last physical line consumed; the header was line 1
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num + 1
                yield SourceRecord(start, problem=f"unreadable CSV ({exc})")
                continue
            end = reader.line_num + 1
            if not any(row):
                continue  # a blank line, or one of only delimiters as spreadsheets write
            yield self._record(row, start, end)

    def _record(self, row: list[str], start: int, end: int) -> SourceRecord:
        # The hot path of a million-row file: plain loops, no per-cell function calls.
        width = len(row)
        if width != self._width:
            if width > self._width and any(cell.strip() for cell in row[self._width :]):
                return SourceRecord(
                    start,
                    problem=f"{width} fields where the header has {self._width} "
                    "(a delimiter inside an unquoted value?)",
                )
            # Spreadsheets drop trailing empty cells: the missing ones are empty.
            row = row + [""] * (self._width - width) if width < self._width else row
        if end > start:
            spanned = [
                i for i, cell in enumerate(row) if "\n" in cell and i not in self._multiline_ok
            ]
            if spanned:
                return SourceRecord(
                    start,
                    problem=f"a quoted value runs over lines {start}-{end} (an unbalanced quote?)",
                )
        values = {target: value for target, i in self._text_columns if (value := row[i])}
        numbers: list[RawNumber] = []
        for i, kind, label in self._numbers:
            cell = row[i].strip()
            if not cell:
                continue
            if ";" in cell or "," in cell or "|" in cell or "/" in cell:
                numbers.extend(RawNumber(raw, kind, label) for raw in split_numbers(cell))
            else:
                numbers.append(RawNumber(cell, kind, label))
        references = {name: value for name, i in self._references if (value := row[i].strip())}
        return SourceRecord(start, values, numbers, references)


def split_numbers(cell: str) -> list[str]:
    """The numbers in one cell, stripped; a SIP or tel URI is one number whatever it holds."""
    cell = cell.strip()
    if cell.lower().startswith(_URI_NUMBER) or not _MULTI_NUMBER.search(cell):
        return [cell] if cell else []
    return [part for part in _MULTI_NUMBER.split(cell) if part]


def _format_of(path: Path, given: str | None, head: str) -> str:
    if given is not None:
        chosen = {"vcf": "vcard"}.get(given.lower(), given.lower())
        if chosen not in FORMATS:
            raise UnusableInput(f"unknown format {given!r}: use csv or vcard")
        return chosen
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    return "vcard" if head.lstrip().upper().startswith("BEGIN:VCARD") else "csv"


def _delimiter(given: str | None, first_line: str) -> str:
    if given is not None:
        if given not in DELIMITERS:
            raise UnusableInput(f"unknown delimiter {given!r}: use , ; | or tab")
        return DELIMITERS[given]
    # The header decides: Dutch Excel writes ";", most other tools ",", Excel's "Unicode text" tab.
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _assign_columns(
    headers: list[str], maps: Sequence[tuple[str, str]]
) -> tuple[dict[int, str], list[str]]:
    """Column index -> target, and the headers left unused. `--map` wins over aliases."""
    keys = [header_key(h) for h in headers]
    assigned: dict[int, str] = {}
    for target, header in maps:
        wanted = header_key(header)
        free = [i for i, key in enumerate(keys) if key == wanted and i not in assigned]
        if not free:
            raise UnusableInput(
                f"--map {target}={header}: no column {header!r} in the header; "
                f"it has: {', '.join(repr(h) for h in headers)}"
            )
        assigned[free[0]] = target
    overridden = {target for target, _ in maps}
    ignored: list[str] = []
    for i, header in enumerate(headers):
        if i in assigned:
            continue
        by_alias = target_for_header(header)
        repeatable = by_alias in NUMBER_FIELDS
        if (
            by_alias is None
            or by_alias in overridden
            or (not repeatable and by_alias in assigned.values())
        ):
            if header.strip():
                ignored.append(header.strip())
            continue
        assigned[i] = by_alias
    return assigned, ignored
