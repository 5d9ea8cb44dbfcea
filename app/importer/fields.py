"""What a source record may carry: the target fields, the header aliases and `--map` overrides.

A reader (CSV or vCard) turns each row or card into a `SourceRecord` of raw text; `rows.py`
validates it. Headers match case- and accent-insensitively, ignoring spaces, `_`, `-` and `.`,
so "Mobiel nummer", "mobiel_nummer" and "MOBIELNUMMER" are one header.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.importer.errors import UnusableInput

TEXT_FIELDS = (
    "external_id",
    "display_name",
    "first_name",
    "infix",
    "last_name",
    "form_of_address",
    "language",
    "organisation",
    "household",
    "notes",
    "tags",
    "flags",
)
NAME_FIELDS = ("display_name", "first_name", "last_name")

# Number target -> (kind, label); a None kind is decided from the number (mobile or landline).
NUMBER_FIELDS: dict[str, tuple[str | None, str | None]] = {
    "number": (None, None),
    "numbers": (None, None),
    "phone": (None, None),
    "mobile": ("mobile", None),
    "landline": ("landline", None),
    "home": (None, "home"),
    "work": ("work", None),
    "fax": ("fax", None),
}
REF_PREFIX = "ref:"

_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": (
        "id", "externalid", "externalref", "externalreference", "externeid", "crmid",
        "klantnummer", "klantnr", "klantid", "relatienummer", "relatienr", "clientnummer",
        "clientnr", "clientid", "customerid", "customernumber", "contactid", "uid",
    ),
    "display_name": (
        "displayname", "name", "naam", "fullname", "volledigenaam", "weergavenaam", "contact",
        "contactnaam", "contactpersoon",
    ),
    "first_name": ("firstname", "givenname", "voornaam", "roepnaam", "voornamen"),
    "infix": ("infix", "tussenvoegsel", "tussenvoegsels", "voorvoegsel"),
    "last_name": ("lastname", "surname", "familyname", "achternaam", "familienaam"),
    "form_of_address": ("formofaddress", "salutation", "aanhef", "aanspreekvorm", "aanspreking"),
    "language": ("language", "lang", "taal", "voorkeurstaal", "spreektaal", "locale"),
    "organisation": (
        "organisation", "organization", "organisatie", "company", "bedrijf", "bedrijfsnaam",
        "firma", "org",
    ),
    "household": ("household", "huishouden", "gezin", "huishouding"),
    "notes": ("notes", "note", "notities", "notitie", "opmerkingen", "opmerking", "memo",
              "comments", "comment"),
    "tags": ("tags", "tag", "labels", "categories", "categorieen", "categorie"),
    "flags": ("flags", "vlaggen", "markering", "markeringen"),
    "number": ("number", "nummer", "telephone", "telefoon", "telefoonnummer", "tel", "telnr",
               "telefoonnr", "phonenumber"),
    "numbers": ("numbers", "nummers", "telefoonnummers", "phonenumbers", "phones"),
    "phone": ("phone",),
    "mobile": ("mobile", "mobiel", "mobielnummer", "mobieletelefoon", "mobilephone",
               "mobilenumber", "cell", "cellphone", "gsm", "mobielnr"),
    "landline": ("landline", "vast", "vastnummer", "vastetelefoon", "vastnr"),
    "home": ("home", "homephone", "thuis", "telefoonthuis", "thuisnummer", "prive",
             "privenummer"),
    "work": ("work", "workphone", "werk", "zakelijk", "business", "businessphone", "office",
             "kantoor", "telefoonwerk", "werknummer"),
    "fax": ("fax", "faxnummer", "faxnr", "telefax"),
    "ref:zorgdomein": ("zorgdomein", "zorgdomeinnummer", "zdnummer"),
}  # fmt: skip
_BY_ALIAS = {alias: target for target, aliases in _ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[\s_\-.]+")
_TRAILING_COUNTER = re.compile(r"\d{1,2}$")


@dataclass(slots=True)
class RawNumber:
    """A number as the file gives it, with the kind and label its column or TYPE implies."""

    raw: str
    kind: str | None
    label: str | None


@dataclass(slots=True)
class SourceRecord:
    """One row or card as raw text; `problem` is set when the reader could not read it well."""

    line: int
    values: dict[str, str] = field(default_factory=dict)
    numbers: list[RawNumber] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def header_key(text: str) -> str:
    """A header folded for matching: no case, accents, spaces, `_`, `-` or `.`."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub("", plain)


def is_target(name: str) -> bool:
    """True for a field a column may be mapped to."""
    return name in TEXT_FIELDS or name in NUMBER_FIELDS or _reference_name(name) is not None


def target_for_header(header: str) -> str | None:
    """The field a header feeds by its name alone, or None for a column to ignore."""
    reference = _reference_name(header)
    if reference is not None:
        return REF_PREFIX + reference
    key = header_key(header)
    if key in _BY_ALIAS:
        return _BY_ALIAS[key]
    # "Telefoon 2", "Mobiel2": numbered copies of a number column are number columns too.
    numbered = _BY_ALIAS.get(_TRAILING_COUNTER.sub("", key))
    return numbered if numbered in NUMBER_FIELDS else None


def parse_maps(options: Iterable[str]) -> list[tuple[str, str]]:
    """`field=Header` options as (field, header); UnusableInput for an unknown field."""
    maps: list[tuple[str, str]] = []
    for option in options:
        target, sep, header = option.partition("=")
        target, header = target.strip(), header.strip()
        if not sep or not target or not header:
            raise UnusableInput(f"--map {option!r}: write it as field=Header, e.g. number=Telefoon")
        reference = _reference_name(target)
        target = REF_PREFIX + reference if reference is not None else target.lower()
        if not is_target(target):
            known = ", ".join((*TEXT_FIELDS, *NUMBER_FIELDS, "ref:<name>"))
            raise UnusableInput(f"--map {option!r}: unknown field {target!r}; known: {known}")
        maps.append((target, header))
    return maps


def has_name(targets: Iterable[str]) -> bool:
    """True when the mapped targets can give every row a name."""
    return any(target in NAME_FIELDS for target in targets)


def split_list(text: str, separators: Sequence[str] = (";",)) -> list[str]:
    """Items of a `;`-separated cell, stripped, without empties and repeats, in order."""
    items = [text]
    for separator in separators:
        items = [part for item in items for part in item.split(separator)]
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def _reference_name(text: str) -> str | None:
    head, sep, name = text.strip().partition(":")
    if sep and head.strip().lower() == "ref" and name.strip():
        return name.strip()
    return None
