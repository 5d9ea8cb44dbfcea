"""Numbers as vendors write them: every example number of every region, in every vendor
convention, read on tenants of other regions, gives the same E.164.

The example numbers come from phonenumbers' own metadata (libphonenumber's), not from us.
"""

from __future__ import annotations

import functools

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from app.phone import ExtensionPlan, ExtensionPlanError, NumberKind, NumberStyle, normalise

_TYPES = [
    PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER, PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL, PhoneNumberType.FIXED_LINE_OR_MOBILE,
]  # fmt: skip
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
# Tenants in the countries we serve first, and a few with other habits (NANP's 011 exit code,
# Italy's leading zero kept in E.164, Russia's 8 trunk prefix, Australia's 0011).
HOME_TENANTS = ["NL", "BE", "DE", "GB", "FR", "US", "IT", "RU", "AU", "IN"]


@functools.cache
def examples() -> list[tuple[str, str]]:
    """(region, E.164) for every example number libphonenumber publishes, deduplicated."""
    found: dict[str, str] = {}
    for region in REGIONS:
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None or not phonenumbers.is_valid_number(number):
                continue
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            # Short "UAN"-style numbers are dialled like service numbers (app.phone keeps
            # them as SHORT, without an E.164): not what this property is about.
            if len(phonenumbers.national_significant_number(number)) <= 6:
                continue
            found.setdefault(e164, region)
    return sorted((region, e164) for e164, region in found.items())


def test_the_example_set_is_large() -> None:
    assert len(examples()) > 900
    assert len({region for region, _ in examples()}) > 230


@pytest.mark.parametrize("tenant", HOME_TENANTS)
def test_every_example_in_every_convention_on_our_tenants(tenant: str) -> None:
    wrong = []
    for _region, e164 in examples():
        digits = e164[1:]
        spellings = {
            (NumberStyle.E164, e164),
            (NumberStyle.E164, digits),
            (NumberStyle.DIALLED, e164),
            (NumberStyle.SIP_USER, "%2B" + digits),
            (NumberStyle.SIP_USER, f"sip:{e164}@pbx.example;user=phone"),
        }
        for style, spelling in spellings:
            got = normalise(spelling, tenant, style=style).e164
            if got != e164:
                wrong.append((style.value, spelling, got))
    assert wrong == []


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_any_example_in_any_convention_on_any_tenant(data: st.DataObject) -> None:
    _region, e164 = data.draw(st.sampled_from(examples()))
    tenant = data.draw(st.sampled_from(REGIONS))
    digits = e164[1:]
    style, spelling = data.draw(
        st.sampled_from(
            [
                (NumberStyle.E164, e164),
                (NumberStyle.E164, digits),
                (NumberStyle.DIALLED, e164),
                (NumberStyle.SIP_USER, "%2B" + digits),
                (NumberStyle.SIP_USER, f"<sip:{e164}@pbx.example>"),
            ]
        )
    )
    assert normalise(spelling, tenant, style=style).e164 == e164


@pytest.mark.parametrize("tenant", HOME_TENANTS)
def test_national_spellings_on_their_own_tenant(tenant: str) -> None:
    wrong = []
    for region, e164 in examples():
        if region != tenant:
            continue
        number = phonenumbers.parse(e164)
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        got = normalise(national, tenant, style=NumberStyle.DIALLED).e164
        if got != e164:
            wrong.append((national, got))
    assert wrong == []


@pytest.mark.parametrize(
    ("raw", "tenant", "expected"),
    [
        # The cases: German mobiles and area codes written without "+".
        ("4915112345678", "DE", "+4915112345678"),
        ("4917612345678", "DE", "+4917612345678"),
        ("492111234567", "DE", "+492111234567"),
        ("4971112345678", "DE", "+4971112345678"),
        ("31612345678", "NL", "+31612345678"),
        ("447400123456", "NL", "+447400123456"),
        ("917983165036", "DE", "+917983165036"),  # Plivo's documented example
    ],
)
def test_vendor_digits_without_plus(raw: str, tenant: str, expected: str) -> None:
    assert normalise(raw, tenant, style=NumberStyle.E164).e164 == expected


def test_e164_style_keeps_short_numbers_and_extensions() -> None:
    assert normalise("112", "NL", style=NumberStyle.E164).kind is NumberKind.SHORT
    assert normalise("201", "NL", style=NumberStyle.E164).kind is NumberKind.EXTENSION
    assert normalise("0612345678", "NL", style=NumberStyle.E164).e164 == "+31612345678"
    assert normalise("anonymous", "NL", style=NumberStyle.E164).is_withheld


@pytest.mark.parametrize(
    "raw", ["%2B31612345678", "0031%206%2012345678", "sip:%2B31612345678@kamailio", "06%2D12345678"]
)
def test_percent_escaped_sip_users(raw: str) -> None:
    assert normalise(raw, "NL", style=NumberStyle.SIP_USER).e164 == "+31612345678"


def test_an_extension_plan_wins_over_short_numbers() -> None:
    plan = ExtensionPlan.parse("1xx, 3000-3099")
    assert plan is not None
    assert normalise("112", "NL").kind is NumberKind.SHORT
    assert normalise("112", "NL", extensions=plan).kind is NumberKind.EXTENSION
    assert normalise("3050", "NL", extensions=plan).kind is NumberKind.EXTENSION
    # Outside the plan the usual rules apply: "112" stays the emergency number on a 2xx PBX.
    assert normalise("112", "NL", extensions=ExtensionPlan.parse("2xx")).kind is NumberKind.SHORT
    assert normalise("0612345678", "NL", extensions=plan).e164 == "+31612345678"
    assert str(plan) == "1xx, 3000-3099"


@pytest.mark.parametrize("spec", ["1", "1xy", "300-29", "3099-3000", "abc", "1x,"])
def test_a_bad_extension_plan_says_how_to_write_one(spec: str) -> None:
    if spec == "1x,":  # a trailing comma is harmless
        assert ExtensionPlan.parse(spec) is not None
        return
    with pytest.raises(ExtensionPlanError):
        ExtensionPlan.parse(spec)
