"""English place names for phone numbers ("Amersfoort" for +31 33 …), one country at a time.

phonenumbers' own geocoder keeps the names of every prefix of every country in memory, about
100 MB in each process, while a contact centre's callers come from a handful of countries.
So the names are copied once into an SQLite index (`app.place_names_build`, run in a
subprocess so the big import never lands in a server) and a country's prefixes are read when
its first number is described. The answers are the geocoder's `description_for_number(n, "en")`
(tests/test_place_names.py compares the two over every region's example numbers).

Without an index (no writable cache directory, a failed build) numbers get no place name;
that loses a hint on the card, never a call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

__all__ = ["configure", "describe", "ensure_index", "index_path"]

log = logging.getLogger(__name__)

_BUILD_TIMEOUT = 120.0
_lock = threading.Lock()
_directory: Path | None = None
_places: dict[int, dict[str, str]] = {}
_countries: dict[str, str] | None = None
_longest_prefix = 0
_connection: sqlite3.Connection | None = None
_unavailable = False


def configure(directory: Path | None) -> None:
    """Keep the index in `directory` (the setting `cache_dir`); None: the user's cache."""
    global _directory, _connection, _countries, _unavailable
    with _lock:
        if directory == _directory:
            return
        _directory = directory
        if _connection is not None:
            _connection.close()
        _connection, _countries, _unavailable = None, None, False
        _places.clear()


def index_path() -> Path:
    """Where the index for the installed phonenumbers version lives."""
    base = _directory
    if base is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "stamgast"
    return base / f"place-names-{phonenumbers.__version__}.sqlite3"


def ensure_index() -> bool:
    """Build the index if it is missing (a second or two, once per phonenumbers version)."""
    with _lock:
        return _open() is not None


def describe(number: phonenumbers.PhoneNumber, number_type: int | None = None) -> str | None:
    """The place (or, for mobile and non-geographic numbers, the country) of a valid number.

    `number_type` saves working it out again when the caller already knows it.
    """
    if number_type is None:
        number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN or number.country_code is None:
        return None
    if not phonenumbers.is_number_type_geographical(number_type, number.country_code):
        return _country_of(number) or None
    return _area_of(number) or _country_of(number) or None


def _area_of(number: phonenumbers.PhoneNumber) -> str:
    country_code = number.country_code
    assert country_code is not None
    national = phonenumbers.national_significant_number(number)
    token = phonenumbers.country_mobile_token(country_code)
    if token and national.startswith(token):
        # Some countries (Argentina) put a mobile token before the area code.
        region = phonenumbers.region_code_for_country_code(country_code)
        with contextlib.suppress(NumberParseException):
            number = phonenumbers.parse(national[len(token) :], region)
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    with _lock:
        places = _places_for(country_code)
        longest = _longest_prefix
    for length in range(min(longest, len(digits)), 0, -1):
        name = places.get(digits[:length])
        if name is not None:
            return name
    return ""


def _country_of(number: phonenumbers.PhoneNumber) -> str:
    assert number.country_code is not None
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if len(regions) == 1:
        return _country_name(regions[0])
    valid_in = [r for r in regions if phonenumbers.is_valid_number_for_region(number, r)]
    # A number valid in several regions sharing a code (+1, +7) could be from any of them.
    return _country_name(valid_in[0]) if len(valid_in) == 1 else ""


def _country_name(region: str) -> str:
    with _lock:
        connection = _open()
        global _countries
        if _countries is None:
            rows = connection.execute("SELECT region, name FROM countries") if connection else []
            _countries = dict(rows)
        return _countries.get(region, "")


def _places_for(country_code: int) -> dict[str, str]:
    places = _places.get(country_code)
    if places is None:
        connection = _open()
        rows = (
            connection.execute(
                "SELECT prefix, name FROM places WHERE country_code = ?", (country_code,)
            )
            if connection
            else []
        )
        places = _places[country_code] = dict(rows)
    return places


def _open() -> sqlite3.Connection | None:
    """The index connection, building the file first if needed; None if there is none."""
    global _connection, _longest_prefix, _unavailable
    if _connection is not None or _unavailable:
        return _connection
    path = index_path()
    try:
        if not path.exists():
            _build(path)
        try:
            connection, _longest_prefix = _connect(path)
        except (sqlite3.Error, KeyError, ValueError):
            # A damaged or foreign file (a crash mid-copy, a hand edit): build it afresh.
            _build(path)
            connection, _longest_prefix = _connect(path)
    except (OSError, sqlite3.Error, subprocess.SubprocessError, KeyError, ValueError) as exc:
        log.warning("place names unavailable, cards show none: %s (index %s)", exc, path)
        _unavailable = True
        return None
    _connection = connection
    return connection


def _connect(path: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to a complete index, and its longest prefix length."""
    # Shared by every thread that describes numbers; _lock serialises the reads.
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta"))
        return connection, int(meta["longest_prefix"])
    except BaseException:
        connection.close()
        raise


def _build(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place, so processes building at the same
    # time never see half a file.
    handle, temporary = tempfile.mkstemp(prefix=".place-names-", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)
    try:
        subprocess.run(
            [sys.executable, "-m", "app.place_names_build", temporary],
            check=True,
            timeout=_BUILD_TIMEOUT,
            capture_output=True,
        )
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
