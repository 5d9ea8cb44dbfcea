"""Caller numbers: parsing, classification and log-safe masking.

This module (with `app.place_names`, which names a number's place) is the only one that
imports ``phonenumbers``; everything else sees ``PhoneNumber``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, shortnumberinfo

from app import place_names
from app.extension_plan import ExtensionPlan, ExtensionPlanError
from telephony_adapters.base import NumberStyle

__all__ = [
    "DEFAULT_REGION",
    "ExtensionPlan",
    "ExtensionPlanError",
    "NumberKind",
    "NumberStyle",
    "PhoneNumber",
    "cache_clear",
    "cache_info",
    "display",
    "is_valid_region",
    "mask",
    "normalise",
    "number_key",
]

DEFAULT_REGION = "NL"

# Webhooks arrive at call rate and repeat the same few thousand callers, so a large cache
# pays off; it is bounded so a flood of distinct junk cannot grow memory without limit.
_CACHE_SIZE = 65_536
# Real caller IDs, even with a display name and SIP parameters, stay well below this; longer
# input is junk and is neither parsed (phonenumbers gives up at 250 anyway) nor kept in the cache.
_MAX_INPUT = 512
# Dutch "14 + area code" municipal numbers are UAN in phonenumbers' metadata and 5-6 digits
# long; they are dialled like short numbers and only reachable from inside the country.
_MAX_SHORT_UAN = 6
# A bare digit string this long cannot be an internal extension, so a failed national parse
# is probably an international number whose "+" was dropped (Vonage, sipgate).
_MIN_BARE_INTERNATIONAL = 8
_MASK = "****"
# Fewer hidden digits than this would leave a number guessable from its mask.
_MIN_HIDDEN = 3


class NumberKind(StrEnum):
    """What sort of number a caller ID is."""

    MOBILE = "mobile"
    FIXED = "fixed"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    SHORT = "short"
    EXTENSION = "extension"
    WITHHELD = "withheld"
    INVALID = "invalid"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A normalised caller ID; immutable so cached instances can be shared."""

    raw: str
    kind: NumberKind
    e164: str | None
    key: str | None
    region: str | None
    region_description: str | None
    international: str | None
    national: str | None
    masked: str

    @property
    def is_withheld(self) -> bool:
        """True when the caller hid their number."""
        return self.kind is NumberKind.WITHHELD

    @property
    def is_lookupable(self) -> bool:
        """True when there is a key to look the caller up by."""
        return self.key is not None


def display(number: PhoneNumber, region: str) -> str:
    """How to show a number to an agent of a tenant in `region`: national at home,
    international for a caller from abroad, as received when it is not a phone number."""
    if number.region == region and number.national:
        return number.national
    return number.international or number.key or number.raw


_KIND_BY_TYPE: dict[int, NumberKind] = {
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED,
    # Only regions that cannot tell the two apart (US, CN, ...) report this; NL/BE/DE/GB don't.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED,
    PhoneNumberType.TOLL_FREE: NumberKind.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberKind.PREMIUM,
    PhoneNumberType.SHARED_COST: NumberKind.SHARED_COST,
    PhoneNumberType.VOIP: NumberKind.VOIP,
}

# Compared after case-folding and dropping everything but letters, so "Private Number",
# "private-number" and "PRIVATE_NUMBER" all match "privatenumber".
_WITHHELD_WORDS = frozenset(
    {
        "anonymous", "anonymouscaller", "anonymousnumber", "anonymouscall",
        "restricted", "restrictednumber", "presentationrestricted",
        "private", "privatenumber", "privatecaller",
        "unknown", "unknownnumber", "unknowncaller",
        "unavailable", "numberunavailable", "notavailable",
        "withheld", "numberwithheld", "withheldnumber",
        "blocked", "blockednumber", "calleridblocked", "nocallerid", "nonumber",
        # Dutch, German and French carriers and PBXes localise the placeholder.
        "anoniem", "onbekend", "onbekendnummer", "afgeschermd", "afgeschermdnummer",
        "geheimnummer", "anonym", "unbekannt", "unterdrückt", "rufnummerunterdrückt",
        "privé", "inconnu", "masqué", "numéromasqué",
    }
)  # fmt: skip

# Twilio reports hidden callers as the keypad spelling of ANONYMOUS, RESTRICTED, UNAVAILABLE,
# BLOCKED and UNKNOWN; they parse as (invalid) foreign numbers but mean "withheld".
_TWILIO_WITHHELD = frozenset({"+266696687", "+7378742833", "+86282452253", "+2562533", "+8656696"})

_NAME_ADDR = re.compile(r"<([^<>]*)>")
_URI_SCHEME = re.compile(r"(sips?|tel):", re.IGNORECASE)
_PLAIN_DIGITS = re.compile(r"[0-9][0-9 \-]*")
_NON_DIGIT = re.compile(r"[^0-9]")
_LEADING_DIGITS = re.compile(r"[0-9]+")


def is_valid_region(region: str) -> bool:
    """True if phonenumbers has metadata for this ISO 3166-1 alpha-2 region code."""
    return isinstance(region, str) and region.strip().upper() in phonenumbers.SUPPORTED_REGIONS


def normalise(
    raw: str | None,
    region: str = DEFAULT_REGION,
    *,
    style: NumberStyle = NumberStyle.DIALLED,
    extensions: ExtensionPlan | None = None,
) -> PhoneNumber:
    """Parse and classify a caller ID as a PBX or carrier sent it; never raises.

    `style` says how the sender writes numbers (E164: a bare digit string starts with the
    country code); `extensions` is the tenant's internal numbering, which wins over
    short-number rules.
    """
    text, region = _input(raw, region)
    if len(text) > _MAX_INPUT:
        return _invalid(text)
    return _normalise_cached(text, region, style is NumberStyle.E164, extensions)


def number_key(raw: str, region: str = DEFAULT_REGION) -> tuple[str | None, NumberKind]:
    """Just the lookup key and kind of `normalise(raw, region)`.

    For bulk work (an import's million numbers) that stores keys and never shows the number:
    it skips the display formats, the mask, the place name and the cache.
    """
    text, region = _input(raw, region)
    if len(text) > _MAX_INPUT:
        return None, NumberKind.INVALID
    try:
        number = _classify(text, region, False, None, full=False)
    except Exception:
        return None, NumberKind.INVALID
    return number.key, number.kind


def _input(raw: object, region: object) -> tuple[str, str]:
    """The stripped text and a supported region (the default one when it is not)."""
    if raw is None:
        text = ""
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        # The signature says str, but webhook JSON may well carry the number as an int.
        try:
            text = str(raw).strip()
        except Exception:
            text = ""
    code = region.strip().upper() if isinstance(region, str) else DEFAULT_REGION
    return text, code if code in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


def mask(value: str | None, region: str = DEFAULT_REGION) -> str:
    """Log-safe form of any raw or E.164 caller ID."""
    return normalise(value, region).masked


def cache_info() -> functools._CacheInfo:
    """Hit/miss statistics of the normalise cache."""
    return _normalise_cached.cache_info()


def cache_clear() -> None:
    """Empty the normalise cache."""
    _normalise_cached.cache_clear()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalise_cached(
    text: str, region: str, country_code_first: bool, extensions: ExtensionPlan | None
) -> PhoneNumber:
    try:
        return _classify(text, region, country_code_first, extensions)
    except Exception:
        # phonenumbers is not documented to raise anything but NumberParseException, but a
        # caller ID must never take a webhook down, so any surprise becomes "invalid".
        return _invalid(text)


def _classify(
    text: str,
    region: str,
    country_code_first: bool,
    extensions: ExtensionPlan | None,
    *,
    full: bool = True,
) -> PhoneNumber:
    # NFKC folds full-width digits and exotic spaces that softphones sometimes send.
    folded = unicodedata.normalize("NFKC", text)
    candidate = _dial_string(folded).strip()
    if not any(ch.isalnum() for ch in candidate) or _is_withheld_word(candidate):
        return _withheld(text)
    digits = _NON_DIGIT.sub("", candidate)
    plain = _PLAIN_DIGITS.fullmatch(candidate) is not None

    if plain and extensions is not None and extensions.matches(digits):
        return _extension(text, digits)
    if plain and country_code_first and not candidate.startswith("0"):
        # "4915112345678" from a vendor that drops the "+": read nationally first, a German
        # tenant would take it for another valid German number.
        valid = _parse_valid("+" + digits, region)
        if valid is not None:
            return _from_valid(text, *valid, full)
    if plain and not candidate.startswith("0"):
        local = _short_or_extension(text, digits, region, full)
        if local is not None:
            return local
    if digits and digits.strip("0") == "" and not candidate.startswith("+"):
        # Some carriers send "0" (or a run of zeros) for a suppressed number.
        if _is_valid_short(digits, region):
            return _short(text, digits, region)
        return _withheld(text)
    if candidate.startswith("+") and "+" + digits in _TWILIO_WITHHELD:
        return _withheld(text)

    valid = _parse_valid(candidate, region)
    if valid is None and not candidate.startswith("+"):
        if candidate.startswith("00"):
            # The tenant's region may use another international prefix (011 in NANP).
            valid = _parse_valid("+" + digits[2:], region)
        elif len(digits) >= _MIN_BARE_INTERNATIONAL and not digits.startswith("0"):
            valid = _parse_valid("+" + digits, region)
    if valid is None:
        return _invalid(text)
    return _from_valid(text, *valid, full)


def _dial_string(text: str) -> str:
    """Return the part of a plain, display-name, SIP or tel form that holds the number."""
    angle = _NAME_ADDR.search(text)
    if angle is not None:
        text = angle.group(1).strip()
    scheme = _URI_SCHEME.match(text)
    if scheme is None:
        # A SIP user part passed on bare ("%2B31612345678", "0031%206%2012345678"): no phone
        # number contains "%", so an escape is always one.
        return unquote(text) if "%" in text else text
    rest = text[scheme.end() :]
    if scheme.group(1).lower() == "tel":
        # "tel://" is not RFC 3966 but some click-to-dial tools produce it.
        number, _, params = rest.lstrip("/").partition(";")
    else:
        # Without an "@" there is no host part and the whole rest is the user part.
        user = rest.partition("@")[0]
        # Drop a password ("user:secret@host"); the remaining user part may carry
        # tel-style parameters such as phone-context (RFC 3261 section 19.1.6).
        number, _, params = user.partition(":")[0].partition(";")
    number = unquote(number).strip()
    context = _uri_param(params, "phone-context")
    if context.startswith("+") and not number.startswith("+"):
        # RFC 3966: a local number whose context is a global prefix is that prefix + digits.
        number = context + number
    return number


def _uri_param(params: str, name: str) -> str:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == name:
            return unquote(value).strip()
    return ""


def _is_withheld_word(candidate: str) -> bool:
    if any(ch.isdigit() for ch in candidate):
        return False
    letters = "".join(ch for ch in candidate.casefold() if ch.isalpha())
    return letters in _WITHHELD_WORDS


def _short_or_extension(text: str, digits: str, region: str, full: bool) -> PhoneNumber | None:
    """Classify a short bare digit string as a service number or a PBX extension."""
    if len(digits) > _MAX_SHORT_UAN + 1:
        return None
    if _is_valid_short(digits, region):
        return _short(text, digits, region)
    valid = _parse_valid(digits, region)
    if valid is not None:
        # e.g. Dutch 14 0xx municipal numbers, or a short code with the country code stuck on.
        return _from_valid(text, *valid, full)
    if 3 <= len(digits) <= 5:
        return _extension(text, digits)
    return None


def _extension(text: str, digits: str) -> PhoneNumber:
    return PhoneNumber(text, NumberKind.EXTENSION, None, digits, None, None, None, None, digits)


def _is_valid_short(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    return shortnumberinfo.is_valid_short_number_for_region(number, region)


def _parse_valid(candidate: str, region: str) -> tuple[phonenumbers.PhoneNumber, int] | None:
    """The parsed number and its type, if it is valid."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    # number_type is documented to be UNKNOWN exactly for invalid numbers; asking it instead
    # of is_valid_number saves matching the number against the metadata a second time.
    number_type = phonenumbers.number_type(number)
    return None if number_type == PhoneNumberType.UNKNOWN else (number, number_type)


def _from_valid(
    text: str, number: phonenumbers.PhoneNumber, number_type: int, full: bool
) -> PhoneNumber:
    """The PhoneNumber of a valid number; with `full=False` only key, kind and region."""
    # The key must not depend on an extension suffix, and neither should the formats that are
    # shown next to it; the number object is ours, fresh from parse().
    number.extension = None
    nsn = phonenumbers.national_significant_number(number)
    region = phonenumbers.region_code_for_number(number)
    # "001" is phonenumbers' code for non-geographic numbers (+800, +882); not an ISO region.
    iso_region = region if region in phonenumbers.SUPPORTED_REGIONS else None
    if number_type == PhoneNumberType.UAN and len(nsn) <= _MAX_SHORT_UAN:
        return _short(text, nsn, iso_region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    kind = _KIND_BY_TYPE.get(number_type, NumberKind.OTHER)
    if not full:
        return PhoneNumber(text, kind, e164, e164, iso_region, None, None, None, _MASK)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return PhoneNumber(
        raw=text,
        kind=kind,
        e164=e164,
        key=e164,
        region=iso_region,
        region_description=place_names.describe(number, number_type),
        international=international,
        national=phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        masked=_mask_real(number.country_code, nsn, international),
    )


def _mask_real(country_code: int | None, nsn: str, international: str) -> str:
    """Keep country code, first group and last digits, always hiding a few in between."""
    prefix = f"+{country_code}"
    group = _LEADING_DIGITS.match(international.removeprefix(prefix).lstrip())
    head = group.group(0) if group is not None and nsn.startswith(group.group(0)) else ""
    tail_len = max(0, min(4, len(nsn) - len(head) - _MIN_HIDDEN))
    # Very short numbers (a 7-digit toll-free, say) also lose their first group.
    head = head[: max(0, len(nsn) - _MIN_HIDDEN - tail_len)]
    tail = nsn[len(nsn) - tail_len :] if tail_len else ""
    return " ".join(part for part in (prefix, head, _MASK, tail) if part)


def _short(text: str, digits: str, region: str | None) -> PhoneNumber:
    # Service numbers are public, not personal data, so they are shown as they are.
    return PhoneNumber(text, NumberKind.SHORT, None, digits, region, None, None, None, digits)


def _withheld(text: str) -> PhoneNumber:
    return PhoneNumber(
        text, NumberKind.WITHHELD, None, None, None, None, None, None, NumberKind.WITHHELD.value
    )


def _invalid(text: str) -> PhoneNumber:
    digits = _NON_DIGIT.sub("", text[-_MAX_INPUT:])
    masked = "***" + digits[-2:] if len(digits) >= 2 else "***"
    return PhoneNumber(text, NumberKind.INVALID, None, None, None, None, None, None, masked)
