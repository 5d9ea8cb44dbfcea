"""Opening an import file as streamed text, whatever encoding an export tool chose.

UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such; a file whose first 64 KB
does not look like UTF-8 is read as Windows-1252, which is what Excel on a Dutch Windows
writes. Bytes that still do not decode become U+FFFD, and `rows.py` rejects a row holding
one, so a stray bad byte costs one row instead of the whole import.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

from app.importer.errors import UnusableInput

_SNIFF_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}


class TextFile:
    """A file read as text line by line, with the bytes consumed so far for progress."""

    def __init__(self, path: Path) -> None:
        try:
            self._binary = path.open("rb")
        except OSError as exc:
            raise UnusableInput(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            self.total_bytes = path.stat().st_size
            head = self._binary.read(_SNIFF_BYTES)
            self._binary.seek(0)
            codec = _sniff_encoding(head, path)
        except OSError as exc:
            self._binary.close()
            raise UnusableInput(f"cannot read {path}: {exc.strerror or exc}") from None
        except UnusableInput:
            self._binary.close()
            raise
        self.encoding = _NAMES[codec]
        self.head = head.decode(codec, errors="replace").lstrip("\ufeff")
        # newline="" keeps quoted line breaks inside CSV fields intact (the csv module wants it).
        self.text = io.TextIOWrapper(self._binary, encoding=codec, errors="replace", newline="")

    def bytes_read(self) -> int:
        """How far into the file the reader is (ahead by at most one read chunk)."""
        try:
            return self._binary.tell()
        except (OSError, ValueError):
            return self.total_bytes

    def close(self) -> None:
        """Close the file."""
        self.text.close()


def _sniff_encoding(head: bytes, path: Path) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        raise UnusableInput(
            f"{path} looks like a spreadsheet workbook, not text: save it as CSV (UTF-8) first"
        )
    if b"\x00" in head:
        raise UnusableInput(f"{path} is a binary file, not CSV or vCard text")
    # final=False: the sample may end halfway through a multi-byte character.
    sample = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    bad = sample.count("\ufffd")
    # Windows-1252 accents almost never form valid UTF-8 sequences, so real UTF-8 text shows
    # more good non-ASCII characters than bad bytes; a few bad bytes then cost their rows only.
    good = sum(1 for ch in sample if ch > "\x7f") - bad
    return "utf-8-sig" if bad == 0 or good > bad else "cp1252"
