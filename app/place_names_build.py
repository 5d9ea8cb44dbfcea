"""Copy phonenumbers' English geocoding data into the SQLite index `app.place_names` reads.

Run as `python -m app.place_names_build FILE`: importing the geocoding data costs about
100 MB of memory, so it happens in this short-lived process and never in a server.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE places (country_code INTEGER NOT NULL, prefix TEXT NOT NULL, name TEXT NOT NULL,
                     PRIMARY KEY (country_code, prefix)) WITHOUT ROWID;
CREATE TABLE countries (region TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
"""
LANGUAGE = "en"


def build(path: Path) -> None:
    """Write a complete index to `path` (which must not exist yet)."""
    import phonenumbers
    from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX
    from phonenumbers.geodata.locale import LOCALE_DATA

    country_codes = set(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA)
        connection.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("phonenumbers", phonenumbers.__version__),
                ("longest_prefix", str(GEOCODE_LONGEST_PREFIX)),
            ],
        )
        connection.executemany(
            "INSERT INTO places VALUES (?, ?, ?)",
            (
                (_country_code(prefix, country_codes), prefix, names[LANGUAGE])
                for prefix, names in GEOCODE_DATA.items()
                # A prefix without an English name is skipped by the geocoder too.
                if LANGUAGE in names
            ),
        )
        connection.executemany(
            "INSERT INTO countries VALUES (?, ?)",
            ((region, _country_name(names)) for region, names in LOCALE_DATA.items()),
        )
        connection.commit()
    finally:
        connection.close()


def _country_code(prefix: str, country_codes: set[int]) -> int:
    # Country calling codes are a prefix code (no code starts another), so the first match is it.
    for length in (1, 2, 3):
        if int(prefix[:length]) in country_codes:
            return int(prefix[:length])
    raise ValueError(f"geocoding prefix {prefix} starts with no known country calling code")


def _country_name(names: dict[str, str]) -> str:
    name = names.get(LANGUAGE, "")
    if name.startswith("*"):  # "*aa": the name is held under that other language
        name = names.get(name[1:], "")
    return name


if __name__ == "__main__":
    build(Path(sys.argv[1]))
