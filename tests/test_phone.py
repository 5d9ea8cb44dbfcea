"""app.phone: caller-ID parsing, classification and masking."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import phone
from app.phone import NumberKind, PhoneNumber, is_valid_region, mask, normalise

K = NumberKind
# Kinds that are real, dialable numbers: they carry an e164 which is also their key.
REAL_KINDS = {K.MOBILE, K.FIXED, K.TOLL_FREE, K.PREMIUM, K.SHARED_COST, K.VOIP, K.OTHER}

# Some softphones send full-width digits; written this way because they look like ASCII.
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + i) for i in range(10)))

# (raw, tenant region, kind, key, region of the number)
CASES: list[tuple[str | None, str, NumberKind, str | None, str | None]] = [
    # Dutch mobile in every spelling a PBX or carrier has been seen to send.
    ("06-12345678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("0612345678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("+31612345678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("+31 (0)6 1234 5678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("0031 6 12345678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("31612345678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("31612345678", "BE", K.MOBILE, "+31612345678", "NL"),
    ("+3197012345678", "NL", K.MOBILE, "+3197012345678", "NL"),
    # URIs and display names.
    ("tel:+31-6-1234-5678", "NL", K.MOBILE, "+31612345678", "NL"),
    ("tel:+31612345678;phone-context=...", "NL", K.MOBILE, "+31612345678", "NL"),
    ("tel:612345678;phone-context=+31", "BE", K.MOBILE, "+31612345678", "NL"),
    ("sip:+31612345678@pbx.example;user=phone", "NL", K.MOBILE, "+31612345678", "NL"),
    ("sip:0612345678@10.0.0.1", "NL", K.MOBILE, "+31612345678", "NL"),
    ("sips:+31612345678@pbx.example:5061;transport=tls", "NL", K.MOBILE, "+31612345678", "NL"),
    ("sip:%2B31612345678@pbx.example", "NL", K.MOBILE, "+31612345678", "NL"),
    ('"Jan de Vries" <sip:+31201234567@pbx>', "NL", K.FIXED, "+31201234567", "NL"),
    ("<sip:+31201234567@host>", "NL", K.FIXED, "+31201234567", "NL"),
    ("Jan <tel:+31331234567>", "NL", K.FIXED, "+31331234567", "NL"),
    ("<tel:0031201234567>", "DE", K.FIXED, "+31201234567", "NL"),
    ("Receptie <sip:201@pbx.local>", "NL", K.EXTENSION, "201", None),
    ("sip:1001@pbx.example.com:5060;transport=udp", "NL", K.EXTENSION, "1001", None),
    ("tel:7042;phone-context=example.com", "NL", K.EXTENSION, "7042", None),
    # Other Dutch number types, as phonenumbers' metadata classifies them.
    ("033 469 5000", "NL", K.FIXED, "+31334695000", "NL"),
    ("+31201234567 ext. 12", "NL", K.FIXED, "+31201234567", "NL"),
    ("0800 0432", "NL", K.TOLL_FREE, "+318000432", "NL"),
    ("0800 1234567", "NL", K.TOLL_FREE, "+318001234567", "NL"),
    ("0900 1234567", "NL", K.PREMIUM, "+319001234567", "NL"),
    ("0909 1234567", "NL", K.PREMIUM, "+319091234567", "NL"),
    ("085 123 4567", "NL", K.VOIP, "+31851234567", "NL"),
    ("088 123 4567", "NL", K.OTHER, "+31881234567", "NL"),  # UAN (company-wide number)
    ("0612345678".translate(FULL_WIDTH), "NL", K.MOBILE, "+31612345678", "NL"),
    # Belgium.
    ("09 210 10 10", "BE", K.FIXED, "+3292101010", "BE"),
    ("+32 9 210 10 10", "NL", K.FIXED, "+3292101010", "BE"),
    ("0032 9 210 10 10", "NL", K.FIXED, "+3292101010", "BE"),
    ("02 299 11 11", "BE", K.FIXED, "+3222991111", "BE"),
    ("+32 470 12 34 56", "NL", K.MOBILE, "+32470123456", "BE"),
    ("0903 12 345", "BE", K.PREMIUM, "+3290312345", "BE"),
    # Germany.
    ("+49 30 1234567", "NL", K.FIXED, "+49301234567", "DE"),
    ("004930123456", "NL", K.FIXED, "+4930123456", "DE"),
    ("4930123456", "NL", K.FIXED, "+4930123456", "DE"),  # sipgate-style, "+" dropped
    ("030 1234567", "DE", K.FIXED, "+49301234567", "DE"),
    ("+49 151 12345678", "NL", K.MOBILE, "+4915112345678", "DE"),
    # United Kingdom and further.
    ("+44 20 7946 0000", "NL", K.FIXED, "+442079460000", "GB"),
    ("020 7946 0000", "GB", K.FIXED, "+442079460000", "GB"),
    ("0044 20 7946 0000", "BE", K.FIXED, "+442079460000", "GB"),
    ("+44 800 123 4567", "NL", K.TOLL_FREE, "+448001234567", "GB"),
    ("+1 650 253 0000", "NL", K.FIXED, "+16502530000", "US"),  # FIXED_LINE_OR_MOBILE
    ("011 31 612345678", "US", K.MOBILE, "+31612345678", "NL"),
    ("+800 1234 5678", "NL", K.TOLL_FREE, "+80012345678", None),  # non-geographic
    # Short numbers and extensions.
    ("112", "NL", K.SHORT, "112", "NL"),
    ("14 020", "NL", K.SHORT, "14020", "NL"),
    ("14020", "NL", K.SHORT, "14020", "NL"),
    ("140318", "NL", K.SHORT, "140318", "NL"),
    ("+3114020", "NL", K.SHORT, "14020", "NL"),
    ("116123", "NL", K.SHORT, "116123", "NL"),
    ("1234", "NL", K.SHORT, "1234", "NL"),  # a valid short code in NL metadata
    ("101", "NL", K.EXTENSION, "101", None),
    ("101", "BE", K.SHORT, "101", "BE"),  # Belgian police
    ("2345", "NL", K.EXTENSION, "2345", None),
    ("12345", "NL", K.EXTENSION, "12345", None),
    ("14020", "BE", K.EXTENSION, "14020", None),
    ("110", "DE", K.SHORT, "110", "DE"),
    ("999", "GB", K.SHORT, "999", "GB"),
    # Withheld.
    ("anonymous", "NL", K.WITHHELD, None, None),
    ("Anonymous", "NL", K.WITHHELD, None, None),
    ("ANONYMOUS", "NL", K.WITHHELD, None, None),
    ("restricted", "NL", K.WITHHELD, None, None),
    ("private", "NL", K.WITHHELD, None, None),
    ("Private Number", "NL", K.WITHHELD, None, None),
    ("unknown", "NL", K.WITHHELD, None, None),
    ("unavailable", "NL", K.WITHHELD, None, None),
    ("Unavailable", "NL", K.WITHHELD, None, None),
    ("withheld", "NL", K.WITHHELD, None, None),
    ("onbekend", "NL", K.WITHHELD, None, None),
    ("sip:anonymous@anonymous.invalid", "NL", K.WITHHELD, None, None),
    ('"Anonymous" <sip:anonymous@anonymous.invalid>', "NL", K.WITHHELD, None, None),
    ("+266696687", "NL", K.WITHHELD, None, None),  # Twilio's keypad "ANONYMOUS"
    ("+7378742833", "NL", K.WITHHELD, None, None),  # Twilio's keypad "RESTRICTED"
    ("", "NL", K.WITHHELD, None, None),
    ("   ", "NL", K.WITHHELD, None, None),
    (None, "NL", K.WITHHELD, None, None),
    ("+", "NL", K.WITHHELD, None, None),
    ("-", "NL", K.WITHHELD, None, None),
    ("0", "NL", K.WITHHELD, None, None),
    # Garbage.
    ("hello", "NL", K.INVALID, None, None),
    ("+999999", "NL", K.INVALID, None, None),
    ("+31", "NL", K.INVALID, None, None),
    ("12", "NL", K.INVALID, None, None),
    ("0123", "NL", K.INVALID, None, None),
    ("1234567", "NL", K.INVALID, None, None),
    ("06 7012 3456", "NL", K.INVALID, None, None),  # 067 is not an allocated mobile range
    ("+31 6 1234 56789", "NL", K.INVALID, None, None),
    ("sip:jan@pbx.example", "NL", K.INVALID, None, None),
    ("sip:10.0.0.1", "NL", K.INVALID, None, None),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize(("raw", "region", "kind", "key", "number_region"), CASES)
def test_normalise_table(
    raw: str | None,
    region: str,
    kind: NumberKind,
    key: str | None,
    number_region: str | None,
) -> None:
    result = normalise(raw, region)
    assert result.kind is kind
    assert result.key == key
    assert result.region == number_region
    assert result.raw == (raw or "").strip()
    if kind in REAL_KINDS:
        assert result.e164 == key
        assert result.international is not None
        assert result.national is not None
    else:
        assert result.e164 is None
        assert result.international is None
        assert result.national is None
        assert result.region_description is None
    assert result.is_withheld is (kind is K.WITHHELD)
    assert result.is_lookupable is (key is not None)
    if raw is not None:
        assert phone.number_key(raw, region) == (key, kind)


@pytest.mark.parametrize(
    ("raw", "region", "description"),
    [
        ("033 469 5000", "NL", "Amersfoort"),
        ("+31201234567", "NL", "Amsterdam"),
        ("010 123 4567", "NL", "Rotterdam"),
        ("+31612345678", "NL", "Netherlands"),
        ("09 210 10 10", "BE", "Ghent"),
        ("+32 2 299 11 11", "NL", "Brussels"),
        ("+49 30 1234567", "NL", "Berlin"),
        ("+44 20 7946 0000", "NL", "London"),
        ("+44 800 123 4567", "NL", None),  # the geocoder has nothing for UK freephone
    ],
)
def test_region_description(raw: str, region: str, description: str | None) -> None:
    assert normalise(raw, region).region_description == description


def test_formats() -> None:
    result = normalise("06-12345678")
    assert result.international == "+31 6 12345678"
    assert result.national == "06 12345678"
    amsterdam = normalise("+31201234567 ext. 12")
    # The extension is not part of the number's identity, so not of its formats either.
    assert amsterdam.international == "+31 20 123 4567"
    assert amsterdam.national == "020 123 4567"


def test_unknown_or_odd_region_falls_back_to_nl() -> None:
    expected = normalise("0612345678", "NL")
    for region in ("XX", "", "001", "nowhere", "   "):
        assert normalise("0612345678", region) == expected
    assert normalise("09 210 10 10", "be").region == "BE"


def test_non_string_input_does_not_raise() -> None:
    assert normalise(31612345678).e164 == "+31612345678"  # type: ignore[arg-type]
    assert normalise(object()).kind is K.INVALID  # type: ignore[arg-type]
    assert normalise("0612345678", None).e164 == "+31612345678"  # type: ignore[arg-type]


def test_is_valid_region() -> None:
    for region in ("NL", "BE", "DE", "GB", "US", "nl"):
        assert is_valid_region(region)
    for region in ("XX", "", "001", "NLD", "UK"):
        assert not is_valid_region(region)


def test_result_is_frozen() -> None:
    result = normalise("0612345678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.key = "+31000000000"  # type: ignore[misc]


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "masked"),
    [
        ("+31612345678", "NL", "+31 6 **** 5678"),
        ("06-12345678", "NL", "+31 6 **** 5678"),
        ("sip:+31612345678@pbx;user=phone", "NL", "+31 6 **** 5678"),
        ("+31201234567", "NL", "+31 20 **** 4567"),
        ("09 210 10 10", "BE", "+32 9 **** 1010"),
        ("+32 470 12 34 56", "NL", "+32 470 **** 456"),
        ("+44 20 7946 0000", "NL", "+44 20 **** 0000"),
        ("+1 650 253 0000", "NL", "+1 650 **** 0000"),
        ("0800 0432", "NL", "+31 800 **** 2"),  # short national number: fewer digits shown
        ("anonymous", "NL", "withheld"),
        ("", "NL", "withheld"),
        (None, "NL", "withheld"),
        ("112", "NL", "112"),
        ("14 020", "NL", "14020"),
        ("2345", "NL", "2345"),
        ("sip:1001@pbx", "NL", "1001"),
        ("hello", "NL", "***"),
        ("+999999", "NL", "***99"),
        ("x1y", "NL", "***"),
        ("06 7012 3478", "NL", "***78"),
    ],
)
def test_mask(raw: str | None, region: str, masked: str) -> None:
    assert mask(raw, region) == masked
    assert normalise(raw, region).masked == masked


def test_mask_hides_the_middle_digits() -> None:
    for raw in ("+31612345678", "0612345678", "tel:+31-6-1234-5678", "0031612345678"):
        masked = mask(raw)
        assert "1234" not in masked
        assert "12345678" not in masked
        assert _digits(masked) == "3165678"


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


# --- properties ----------------------------------------------------------------------------

REGIONS = st.sampled_from(["NL", "BE", "DE", "GB", "US", "XX", ""])
# Text built from the characters caller IDs are made of reaches far more code paths than
# arbitrary unicode does.
PHONEISH = st.text(alphabet='0123456789+-() <>:;@=".sipteltanonymous', max_size=40)
NUMBERISH = st.builds(
    lambda prefix, digits: prefix + digits,
    st.sampled_from(["", "+", "0", "00", "+31", "0031", "+32", "+49", "+44", "+1", "31", "06"]),
    st.text(alphabet="0123456789", min_size=1, max_size=13),
)
ANY_INPUT = st.one_of(st.text(), PHONEISH, NUMBERISH)


@settings(max_examples=400, deadline=None)
@given(raw=ANY_INPUT, region=REGIONS)
def test_normalise_never_raises_and_is_consistent(raw: str, region: str) -> None:
    result = normalise(raw, region)
    assert isinstance(result, PhoneNumber)
    assert isinstance(result.kind, NumberKind)
    assert isinstance(result.masked, str)
    assert (result.e164 is None) == (result.kind not in REAL_KINDS)
    assert (result.international is None) == (result.e164 is None)
    if result.e164 is not None:
        assert result.key == result.e164
    if result.kind in (K.WITHHELD, K.INVALID):
        assert result.key is None
    if result.kind in (K.SHORT, K.EXTENSION):
        assert result.key is not None
        assert result.key.isdigit()
    assert mask(raw, region) == result.masked


@settings(max_examples=400, deadline=None)
@given(raw=ANY_INPUT, region=REGIONS)
def test_number_key_agrees_with_normalise(raw: str, region: str) -> None:
    # The importer stores number_key's keys and webhooks look them up with normalise's.
    full = normalise(raw, region)
    assert phone.number_key(raw, region) == (full.key, full.kind)


@settings(max_examples=400, deadline=None)
@given(raw=ANY_INPUT, region=REGIONS)
def test_normalise_is_idempotent_on_e164(raw: str, region: str) -> None:
    result = normalise(raw, region)
    if result.e164 is None:
        return
    again = normalise(result.e164)
    assert again.e164 == result.e164
    assert again.kind is result.kind
    # The e164 is region-independent: any tenant region gives the same answer.
    assert normalise(result.e164, region) == again


@settings(max_examples=400, deadline=None)
@given(raw=ANY_INPUT, region=REGIONS)
def test_mask_never_reveals_a_whole_number(raw: str, region: str) -> None:
    result = normalise(raw, region)
    if result.e164 is None:
        return
    e164_digits = _digits(result.e164)
    masked_digits = _digits(result.masked)
    assert len(masked_digits) <= len(e164_digits) - 3
    assert "****" in result.masked


def _mobile_spellings() -> list[Callable[[str], str]]:
    # Each takes the 8 digits after "06" and spells the number the way some system does.
    def spaced(d: str) -> str:
        return " ".join(d[i : i + 2] for i in range(0, 8, 2))

    return [
        lambda d: f"06{d}",
        lambda d: f"06-{d}",
        lambda d: f"06 {spaced(d)}",
        lambda d: f"06-{d[:4]} {d[4:]}",
        lambda d: f"+316{d}",
        lambda d: f"+31 6 {d[:4]} {d[4:]}",
        lambda d: f"+31 (0)6 {d}",
        lambda d: f"+31-6-{d[:4]}-{d[4:]}",
        lambda d: f"00316{d}",
        lambda d: f"0031 6 {spaced(d)}",
        lambda d: f"316{d}",
        lambda d: f"tel:+31-6-{d[:4]}-{d[4:]}",
        lambda d: f"tel:+316{d};phone-context=example.com",
        lambda d: f"sip:+316{d}@pbx.example;user=phone",
        lambda d: f"sips:+316{d}@pbx.example:5061",
        lambda d: f"sip:06{d}@10.0.0.1",
        lambda d: f"sip:%2B316{d}@pbx.example",
        lambda d: f'"Klant" <sip:+316{d}@pbx.example>',
        lambda d: f"<tel:+316{d}>",
        lambda d: f"  06 - {d}  ",
    ]


DUTCH_MOBILE = st.builds(
    lambda second, rest: second + rest,
    st.sampled_from("123458"),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
)


@settings(max_examples=300, deadline=None)
@given(digits=DUTCH_MOBILE, spell=st.sampled_from(_mobile_spellings()))
def test_dutch_mobile_spellings_agree(digits: str, spell: Callable[[str], str]) -> None:
    result = normalise(spell(digits), "NL")
    assert result.kind is K.MOBILE
    assert result.e164 == f"+316{digits}"
    assert result.region == "NL"
    # The middle four digits never show up in the log form.
    assert result.masked == f"+31 6 **** {digits[-4:]}"


@settings(max_examples=100, deadline=None)
@given(digits=DUTCH_MOBILE, region=st.sampled_from(["NL", "BE", "DE", "GB"]))
def test_international_spellings_ignore_the_tenant_region(digits: str, region: str) -> None:
    for raw in (f"+316{digits}", f"00316{digits}", f"sip:+316{digits}@pbx"):
        assert normalise(raw, region).e164 == f"+316{digits}"


# --- cache ---------------------------------------------------------------------------------


def test_cache_returns_the_identical_object() -> None:
    first = normalise("+31 6 1234 5678", "NL")
    assert normalise("+31 6 1234 5678", "NL") is first
    # Lower-case and unknown regions are canonicalised before the cache sees them.
    assert normalise("+31 6 1234 5678", "nl") is first
    assert normalise("+31 6 1234 5678", "XX") is first


def test_cache_is_bounded() -> None:
    info = phone.cache_info()
    assert info.maxsize is not None
    assert info.maxsize > 0


def test_oversized_input_is_invalid_and_not_cached() -> None:
    before = phone.cache_info().currsize
    result = normalise("0612345678" * 100)
    assert result.kind is K.INVALID
    assert result.masked == "***78"
    assert phone.cache_info().currsize == before
