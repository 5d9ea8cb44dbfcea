"""Invented Dutch and Belgian callers for bench/dataset.py: names, numbers, what they called about.

Numbers are made in E.164 directly (no phonenumbers call per row): each `NumberPlan` is a
numbering range that app.phone accepts as valid, walked through a seeded permutation, so
index i always gives the same number and distinct indices give distinct numbers. The
dataset checks a sample of them with `app.phone.normalise`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import NamedTuple


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ---------------------------------------------------------------------------- people

FIRST_NL_F = _words(
    "Anna Emma Sophie Julia Lotte Sanne Femke Anouk Lisa Eva Noor Fleur Iris Lieke Maud "
    "Sara Tess Roos Esther Ingrid Marieke Annemarie Wilma Joke Tineke Karin Els Yvonne "
    "Hanneke Mirjam Linda Monique Petra Sandra Bianca Ilse Nicole Marjolein Geertje Truus"
)
FIRST_NL_M = _words(
    "Jan Pieter Kees Henk Gerrit Johan Willem Bram Daan Sem Lucas Finn Thijs Ruben Jeroen "
    "Maarten Bas Stefan Wouter Joost Sander Martijn Erik Rob Theo Ruud Freek Niels Koen "
    "Jasper Tom Tim Hans Frank Dirk Arjen Hugo Teun Mees Gijs"
)
# (tussenvoegsel, achternaam): the prefix is lower case after a first name, capitalised
# after "mevrouw"/"meneer" (Dutch usage; Belgian names keep their capital everywhere).
SURNAMES_NL = (
    ("de", "Jong"), ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"),
    ("", "Bakker"), ("", "Janssen"), ("", "Visser"), ("", "Smit"), ("", "Meijer"),
    ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"),
    ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"),
    ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("van der", "Meer"), ("van der", "Linden"),
    ("", "Kok"), ("", "Jacobs"), ("de", "Haan"), ("", "Vermeulen"), ("van den", "Heuvel"),
    ("van der", "Veen"), ("van den", "Broek"), ("de", "Bruijn"), ("de", "Bruin"),
    ("van der", "Heijden"), ("", "Schouten"), ("van", "Beek"), ("", "Willems"),
    ("van", "Vliet"), ("", "Hoekstra"), ("", "Maas"), ("", "Verhoeven"), ("", "Koster"),
    ("van", "Dam"), ("van der", "Wal"), ("", "Prins"), ("", "Blom"), ("", "Huisman"),
    ("", "Kuipers"), ("", "Postma"), ("", "Bosman"), ("", "Yılmaz"), ("", "Kaya"),  # noqa: RUF001
    ("", "El Idrissi"), ("", "Benali"), ("", "Ouali"), ("", "Nowak"), ("", "Kowalski"),
)  # fmt: skip
FIRST_BE_NL_F = _words("Lien An Elke Katrien Sofie Griet Hilde Nele Leen Ine Fien Marie")
FIRST_BE_NL_M = _words("Koen Wouter Pieter Jef Bart Dries Stijn Tom Jens Lander Wim Luc")
SURNAMES_BE_NL = (
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
    "Wouters", "De Smet", "Vermeulen", "Van den Broeck", "Pauwels", "Hermans", "Aerts",
    "De Clercq", "Martens", "Michiels", "Verstraete",
)  # fmt: skip
# Belgian prefixes are part of the name and keep their capital: "meneer Van den Broeck"
FIRST_BE_FR_F = _words("Marie Camille Léa Julie Chloé Sophie Nathalie Isabelle Céline Manon")
FIRST_BE_FR_M = _words("Jean Pierre Luc Thomas Nicolas Julien Olivier Philippe Antoine Mathieu")
SURNAMES_BE_FR = _words(
    "Dubois Lambert Dupont Martin Simon Laurent Leclercq Renard Lejeune Dumont "
    "Lemaire Hubert Collignon François Gilson"
)
LANGUAGES_NL = ("nl",) * 88 + ("en",) * 4 + ("tr",) * 3 + ("ar",) * 3 + ("pl",) * 2


GIVEN_NAMES = {  # (female, male) per group
    "nl": (FIRST_NL_F, FIRST_NL_M),
    "be-nl": (FIRST_BE_NL_F, FIRST_BE_NL_M),
    "be-fr": (FIRST_BE_FR_F, FIRST_BE_FR_M),
}


class Caller(NamedTuple):
    """One invented person: how they are listed and addressed, their language and country."""

    display_name: str
    form_of_address: str
    listed_surname: str  # after a first name: "van den Berg"
    addressed_surname: str  # after a title: "Van den Berg"
    group: str  # "nl", "be-nl" or "be-fr"
    language: str

    @property
    def country(self) -> str:
        return "NL" if self.group == "nl" else "BE"


def make_caller(rng: random.Random, family: Caller | None = None) -> Caller:
    """A Dutch (85 %) or Belgian (Flemish or francophone) caller; `family` lends the surname."""
    female = rng.random() < 0.52
    if family is not None:
        group, listed, addressed = family.group, family.listed_surname, family.addressed_surname
    elif rng.random() < 0.85:
        group = "nl"
        prefix, last = rng.choice(SURNAMES_NL)
        listed = f"{prefix} {last}" if prefix else last
        addressed = f"{prefix[0].upper()}{prefix[1:]} {last}" if prefix else last
    else:
        group = "be-nl" if rng.random() < 0.6 else "be-fr"
        listed = addressed = rng.choice(SURNAMES_BE_NL if group == "be-nl" else SURNAMES_BE_FR)
    first = rng.choice(GIVEN_NAMES[group][0 if female else 1])
    if group == "nl":
        language = rng.choice(LANGUAGES_NL)
        title = "mevrouw" if female else "meneer"
    elif group == "be-nl":
        language, title = "nl-BE", "mevrouw" if female else "meneer"
    else:
        language, title = "fr-BE", "madame" if female else "monsieur"
    display = f"{first} {listed}"
    # A few prefer to be addressed by their full name, without a title.
    form = display if rng.random() < 0.04 else f"{title} {addressed}"
    return Caller(display, form, listed, addressed, group, language)


# --------------------------------------------------------------------------- numbers

# Landline area codes (two digits after the country code) that app.phone accepts.
NL_AREAS = _words("10 13 15 20 23 24 26 30 33 35 36 38 40 43 45 46 50 53 55 58 70 71 72 "
                 "73 76 77 79")  # fmt: skip
BE_AREAS = _words("10 11 12 13 14 15 16 19 50 51 52 53 54 55 56 57 58 59 60 61 63 64 65 67 "
                 "69 71 81 82 83 84 85 86 87 89")  # fmt: skip
BE_MOBILE = tuple(f"4{n}" for n in [60, 65, 66, 67, 68, *range(70, 100)])
_MULTIPLIER = 2_654_435_761  # a prime; any odd number coprime with the range size works


@dataclass(frozen=True)
class NumberPlan:
    """A range of valid numbers: +country, prefix, first subscriber digit, then free digits."""

    name: str
    country: str
    prefixes: tuple[str, ...]
    first_digits: str
    free_digits: int
    kind: str  # ContactNumber.kind: "mobile" or "landline"

    @property
    def size(self) -> int:
        return len(self.prefixes) * len(self.first_digits) * 10**self.free_digits

    def number(self, index: int, offset: int) -> str:
        """The index-th number of a seeded permutation of the range (E.164)."""
        size = self.size
        j = (index * self._multiplier() + offset) % size
        free = j % 10**self.free_digits
        j //= 10**self.free_digits
        first = self.first_digits[j % len(self.first_digits)]
        prefix = self.prefixes[j // len(self.first_digits)]
        return f"+{self.country}{prefix}{first}{free:0{self.free_digits}d}"

    def _multiplier(self) -> int:
        m = _MULTIPLIER
        while math.gcd(m, self.size) != 1:
            m += 2
        return m


NL_MOBILE = NumberPlan("nl-mobile", "31", ("61", "62", "63", "64", "65"), "0123456789", 6, "mobile")
NL_LANDLINE = NumberPlan("nl-landline", "31", NL_AREAS, "2345678", 6, "landline")
BE_MOBILE_PLAN = NumberPlan("be-mobile", "32", BE_MOBILE, "0123456789", 5, "mobile")
BE_LANDLINE = NumberPlan("be-landline", "32", BE_AREAS, "234567", 5, "landline")
PLANS = (NL_MOBILE, NL_LANDLINE, BE_MOBILE_PLAN, BE_LANDLINE)


def raw_form(e164: str, variant: int) -> str:
    """The number as a person or CRM typed it (the tenant's region is NL)."""
    if e164.startswith("+31"):
        nsn = e164[3:]
        head, tail = (nsn[:1], nsn[1:]) if nsn[0] == "6" else (nsn[:2], nsn[2:])
        forms = (
            f"0{head}-{tail}",
            f"0{head}{tail}",
            f"+31 {head} {tail}",
            f"0{head} {tail[:3]} {tail[3:]}" if head != "6" else f"06 {tail}",
        )
    else:
        nsn = e164[3:]
        head, tail = (nsn[:3], nsn[3:]) if nsn[0] == "4" else (nsn[:2], nsn[2:])
        pairs = " ".join(tail[i : i + 2] for i in range(len(tail) % 2, len(tail), 2))
        lead = tail[: len(tail) % 2]
        spaced = f"{lead} {pairs}".strip()
        forms = (f"+32 {head} {spaced}", f"0032 {head} {spaced}", f"+32{nsn}", f"+32 {nsn}")
    return forms[variant % len(forms)]


# ------------------------------------------------------------- what people call about

SUMMARIES = (
    "Vraag over de factuur van vorige maand",
    "Afspraak verzet naar volgende week",
    "Informatie gevraagd over de wachtlijst",
    "Adreswijziging doorgegeven",
    "Herhaalrecept aangevraagd",
    "Vraag over de verwijzing van de huisarts",
    "Klacht over de bereikbaarheid",
    "Bevestiging van de intake gestuurd",
    "Wil graag een andere behandelaar",
    "Vraag over eigen bijdrage",
    "Uitslag besproken, geen actie nodig",
    "Terugbelverzoek over de aanvraag",
    "Formulier ontbreekt nog, opnieuw verstuurd",
    "Parkeren bij de locatie Amersfoort nagevraagd",
    "Taxivervoer naar de afspraak geregeld",
    "Question about the invoice, answered in English",
    "Demande de rendez-vous, rappel prévu",
    "Machtiging voor het portaal aangevraagd",
    "Medicatie-overzicht opgevraagd",
    "Dochter belde namens moeder",
)
OUTCOMES = (None, "beantwoord", "doorverbonden", "afspraak gemaakt", "terugbellen",
            "doorgestuurd naar team", "opgelost", "niet bereikt")  # fmt: skip
CHANNELS = ("phone",) * 55 + ("email",) * 18 + ("chat",) * 9 + ("visit",) * 8 + \
    ("portal",) * 6 + ("letter",) * 4  # fmt: skip
CALLBACK_REASONS = (
    "Wil teruggebeld worden over de uitslag",
    "Vraag over de factuur, na 14:00 bellen",
    "Wacht op antwoord over de verwijzing",
    "Bellen zodra er plek is op de wachtlijst",
    "Afspraak moet verzet worden",
    "Mist een brief, graag toelichting",
)
CASE_KINDS = ("referral",) * 5 + ("waiting_list",) * 3 + ("application",) * 2 + ("complaint",)
OPEN_CASE_STATUSES = ("open", "in_progress", "waiting")
NEXT_STEPS = (
    "Intakegesprek inplannen",
    "Wacht op verwijsbrief",
    "Beoordeling door het team",
    "Plaatsing zodra er plek is",
    "Aanvullende gegevens opgevraagd",
)
PREFERRED_TIMES = ("ochtend", "middag", "na 10:00", "niet op woensdag", "tussen 13 en 15 uur",
                   "werkdagen", None)  # fmt: skip
PLACES = ("Amersfoort", "Utrecht", "Leusden", "Soest", "Gent", "Antwerpen", None)
LIKES = ("vaste contactpersoon", "korte uitleg", "bevestiging per e-mail", "rustig tempo")
DISLIKES = ("voicemail", "lang in de wacht", "bellen voor 9 uur", "medisch jargon")
TAGS = ("zorg", "wmo", "jeugd", "ggz", "thuiszorg", "mantelzorger")
FLAGS = ("attention", "vip")
