"""app.place_names: the geocoder's English place names, read one country at a time."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from app import place_names
from app.phone import normalise

# Every type phonenumbers has example numbers for; geographic and not, so both the area
# lookup and the country-name fallback are compared.
_TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.UAN,
]


def _example_numbers() -> Iterator[phonenumbers.PhoneNumber]:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in _TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                yield example
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            yield example


def test_describe_gives_the_geocoders_english_answer_for_every_example_number() -> None:
    # The reference runs in a subprocess: importing the geocoder's data is what this module
    # exists to keep out of our processes, the test runner included.
    script = (
        "import sys, json, phonenumbers\n"
        "from phonenumbers import geocoder\n"
        "for line in sys.stdin:\n"
        "    n = phonenumbers.parse(line.strip())\n"
        "    print(json.dumps(geocoder.description_for_number(n, 'en')))\n"
    )
    numbers = list(_example_numbers())
    assert len(numbers) > 900
    e164 = [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) for n in numbers]
    reference = subprocess.run(
        [sys.executable, "-c", script],
        input="\n".join(e164) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    expected = [json.loads(line) or None for line in reference]
    ours = [place_names.describe(phonenumbers.parse(n)) for n in e164]
    differing = [(n, o, e) for n, o, e in zip(e164, ours, expected, strict=True) if o != e]
    assert differing == []
    assert sum(1 for name in ours if name) > 800


def test_dutch_and_belgian_places() -> None:
    assert normalise("033 303 1100").region_description == "Amersfoort"
    assert normalise("020 123 4567").region_description == "Amsterdam"
    assert normalise("+32 2 555 12 12").region_description == "Brussels"
    assert normalise("06 12345678").region_description == "Netherlands"


def test_only_the_countries_asked_for_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(place_names, "_places", {})
    place_names.describe(phonenumbers.parse("+31333031100"))
    place_names.describe(phonenumbers.parse("+3225551212"))
    assert set(place_names._places) == {31, 32}


@pytest.fixture
def cache_dir(tmp_path: Path) -> Iterator[Path]:
    """place_names pointed at an empty directory, and back to the default afterwards."""
    before = place_names._directory
    place_names.configure(tmp_path / "cache")
    yield tmp_path / "cache"
    place_names.configure(before)


def test_without_an_index_numbers_have_no_place_and_nothing_fails(cache_dir: Path) -> None:
    cache_dir.parent.mkdir(exist_ok=True)
    cache_dir.write_text("a file where the cache directory should be")
    assert place_names.ensure_index() is False
    assert place_names.describe(phonenumbers.parse("+31333031100")) is None
    assert normalise("+31 33 303 1101").key == "+31333031101"


def test_a_missing_index_is_built_once_in_a_subprocess(cache_dir: Path) -> None:
    assert place_names.ensure_index() is True
    built = list(cache_dir.iterdir())
    assert [p.name for p in built] == [f"place-names-{phonenumbers.__version__}.sqlite3"]
    assert "phonenumbers.geodata" not in sys.modules
    assert place_names.describe(phonenumbers.parse("+3233031100")) is not None


def test_a_damaged_index_is_built_afresh(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    place_names.index_path().write_bytes(b"not an index at all")
    assert place_names.ensure_index() is True
    assert normalise("+31 33 303 1102").region_description == "Amersfoort"
