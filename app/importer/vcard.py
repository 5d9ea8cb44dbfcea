"""vCard 2.1, 3.0 and 4.0 cards as `SourceRecord`s, streamed card by card.

A small, careful reader of what an address book export holds about a caller, not a complete
RFC 6350 parser (`vobject` would be; it is not a dependency). It handles folded lines, vCard
2.1 quoted-printable values with soft line breaks, quoted parameter values, backslash escapes,
several TEL per card with their TYPE (2.1 bare `TEL;CELL`, 3.0 `TYPE=cell`, 4.0
`TYPE="cell,voice"` and `tel:` URIs), Apple's grouped `itemN.X-ABLabel` number labels, and:

    FN -> display_name            N -> first_name / infix / last_name (when FN is missing)
    ORG -> organisation           LANG -> language (lowest PREF)    NOTE -> notes
    UID -> external_id            CATEGORIES -> tags                X-REF-<name> -> ref:<name>

`--map field=PROPERTY` takes any other property, e.g. `--map ref:crm=X-CRM-ID`.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from app.importer.errors import UnusableInput
from app.importer.fields import NUMBER_FIELDS, REF_PREFIX, RawNumber, SourceRecord
from app.importer.textfile import TextFile

_REF_PROPERTY = "X-REF-"
# Longer logical lines are embedded photos or junk: keep memory bounded, drop the excess.
_MAX_LINE = 256 * 1024
_MAX_PROPERTIES = 2_000
_MAX_IGNORED_NAMES = 50
_ENCODINGS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}
_APPLE_LABEL = re.compile(r"^_\$!<(.*)>!\$_$")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PRESENTATION = ("X-ABLABEL", "X-ABUID", "X-ABSHOWAS", "X-ABADR")


@dataclass(slots=True)
class _Property:
    group: str
    name: str
    params: dict[str, list[str]]
    value: str

    def param(self, key: str) -> list[str]:
        return self.params.get(key, [])


class VcardSource:
    """Cards of a vCard file; the line of a record is its BEGIN:VCARD line."""

    format = "vcard"
    delimiter: str | None = None

    def __init__(self, text: TextFile, *, maps: Sequence[tuple[str, str]]) -> None:
        first = next((line for line in text.head.splitlines() if line.strip()), "")
        if first.strip().upper() != "BEGIN:VCARD":
            raise UnusableInput(
                f"not a vCard file: it starts with {first.strip()[:40]!r}, not BEGIN:VCARD"
            )
        self._file = text
        self.encoding = text.encoding
        self.total_bytes = text.total_bytes
        self._maps = [(target, prop.strip().upper()) for target, prop in maps]
        self._mapped = {prop for _, prop in self._maps}
        self.ignored: list[str] = []

    def bytes_read(self) -> int:
        """Bytes consumed so far."""
        return self._file.bytes_read()

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def records(self) -> Iterator[SourceRecord]:
        """Each card, in file order; one left open is reported, not silently dropped."""
        start: int | None = None
        properties: list[_Property] = []
        for line, text in _logical_lines(self._file.text):
            prop = _parse(text)
            if prop is None:
                continue
            marker = prop.value.strip().upper() == "VCARD"
            if prop.name == "BEGIN" and marker:
                if start is not None:
                    yield SourceRecord(start, problem="card has no END:VCARD")
                start, properties = line, []
            elif prop.name == "END" and marker:
                if start is not None:
                    yield self._record(start, properties)
                start, properties = None, []
            elif start is not None and len(properties) < _MAX_PROPERTIES:
                properties.append(prop)
        if start is not None:
            yield SourceRecord(start, problem="card has no END:VCARD (the file ends inside it)")

    def _record(self, line: int, properties: list[_Property]) -> SourceRecord:
        record = SourceRecord(line)
        values = record.values
        labels = {
            p.group: _apple_label(_text(p)) for p in properties if p.name == "X-ABLABEL" and p.group
        }
        languages: list[tuple[int, str]] = []
        notes: list[str] = []
        for p in properties:
            name = p.name
            if name in self._mapped:
                continue
            if name == "FN":
                values.setdefault("display_name", _text(p))
            elif name == "N":
                family, given, additional = [*_components(p), "", "", ""][:3]
                values.setdefault("last_name", family)
                values.setdefault("first_name", given)
                values.setdefault("infix", additional.replace(",", " "))
            elif name == "ORG":
                values.setdefault("organisation", ", ".join(c for c in _components(p) if c))
            elif name == "LANG":
                languages.append((_preference(p), _text(p)))
            elif name == "NOTE":
                notes.append(_text(p))
            elif name == "UID":
                values.setdefault("external_id", _text(p))
            elif name == "CATEGORIES":
                values.setdefault("tags", ";".join(_split_escaped(_decoded(p), ",")))
            elif name == "TEL":
                record.numbers.append(_number(p, labels.get(p.group)))
            elif name.startswith(_REF_PROPERTY) and len(name) > len(_REF_PROPERTY):
                record.references.setdefault(name[len(_REF_PROPERTY) :].lower(), _text(p))
            elif name.startswith("X-") and name not in _PRESENTATION:
                self._note_ignored(name)
        if languages:
            values.setdefault("language", min(languages, key=lambda item: item[0])[1])
        if notes:
            values.setdefault("notes", "\n".join(notes))
        self._apply_maps(record, properties)
        return record

    def _apply_maps(self, record: SourceRecord, properties: list[_Property]) -> None:
        for target, prop_name in self._maps:
            found = [p for p in properties if p.name == prop_name]
            if not found:
                continue
            if target in NUMBER_FIELDS:
                kind, label = NUMBER_FIELDS[target]
                record.numbers.extend(RawNumber(_decoded(p).strip(), kind, label) for p in found)
            elif target.startswith(REF_PREFIX):
                record.references[target.removeprefix(REF_PREFIX)] = _text(found[0])
            else:
                record.values[target] = _text(found[0])

    def _note_ignored(self, name: str) -> None:
        if name not in self.ignored and len(self.ignored) < _MAX_IGNORED_NAMES:
            self.ignored.append(name)


def _number(prop: _Property, group_label: str | None) -> RawNumber:
    types = {t.lower() for value in prop.param("TYPE") for t in value.split(",")}
    kind: str | None = None
    if "fax" in types:
        kind = "fax"
    elif types & {"cell", "mobile", "iphone"}:
        kind = "mobile"
    elif "work" in types:
        kind = "work"
    label = group_label or ("home" if "home" in types else None)
    return RawNumber(_decoded(prop).strip(), kind, label)


def _preference(prop: _Property) -> int:
    for value in prop.param("PREF"):
        if value.isdigit():
            return int(value)
    # vCard 3.0 marks the preferred one with TYPE=pref instead.
    return 1 if any(t.lower() == "pref" for t in prop.param("TYPE")) else 100


def _apple_label(text: str) -> str:
    match = _APPLE_LABEL.match(text)
    return match.group(1) if match else text


def _logical_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Unfold continuation lines (RFC 6350 3.2) and 2.1 quoted-printable soft breaks."""
    parts: list[str] = []
    start = size = 0
    quoted_printable = False
    for number, physical in enumerate(lines, 1):
        physical = physical.rstrip("\r\n")
        if parts and physical[:1] in (" ", "\t"):
            if size < _MAX_LINE:
                parts.append(physical[1:])
                size += len(physical)
            continue
        if parts and quoted_printable and parts[-1].endswith("="):
            parts[-1] = parts[-1][:-1]
            if size < _MAX_LINE:
                parts.append(physical)
                size += len(physical)
            continue
        if parts:
            yield start, "".join(parts)
        parts, start, size = [physical], number, len(physical)
        quoted_printable = "QUOTED-PRINTABLE" in physical.partition(":")[0].upper()
    if parts:
        yield start, "".join(parts)


def _parse(text: str) -> _Property | None:
    """`group.NAME;PARAM=value:value` split up; None for a line that is no property."""
    colon = text.find(":")
    if colon < 0:
        return None
    if '"' in text[:colon]:
        # A quoted parameter value may hold ':' and ';' (vCard 4.0).
        colon = _unquoted_index(text, ":")
        if colon < 0:
            return None
    head, value = text[:colon], text[colon + 1 :]
    parts = _split_unquoted(head, ";")
    group, _, name = parts[0].strip().rpartition(".")
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        key, eq, raw = part.partition("=")
        key = key.strip().upper()
        if not eq:
            # vCard 2.1 bare parameters: TEL;CELL;WORK:... and NOTE;QUOTED-PRINTABLE:...
            key, raw = ("ENCODING" if key in _ENCODINGS else "TYPE"), key
        values = [v.strip().strip('"') for v in _split_unquoted(raw, ",")]
        params.setdefault(key, []).extend(v for v in values if v)
    return _Property(group.lower(), name.upper(), params, value)


def _unquoted_index(text: str, char: str) -> int:
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            return i
    return -1


def _split_unquoted(text: str, separator: str) -> list[str]:
    if '"' not in text:
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _decoded(prop: _Property) -> str:
    """The value with a 2.1 quoted-printable transfer encoding undone."""
    if not any(e.upper() == "QUOTED-PRINTABLE" for e in prop.param("ENCODING")):
        return prop.value
    data = quopri.decodestring(prop.value.encode("utf-8"))
    charset = (prop.param("CHARSET") or ["utf-8"])[0]
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _text(prop: _Property) -> str:
    return _unescape(_decoded(prop))


def _components(prop: _Property) -> list[str]:
    """The parts of a structured value (N, ORG), split on unescaped semicolons."""
    return _split_escaped(_decoded(prop), ";")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _split_escaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == separator:
            parts.append(_unescape("".join(current)))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append(_unescape("".join(current)))
    return parts
