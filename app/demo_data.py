"""The tables the demo tenant is made from: names, summaries and service profiles.

All people, organisations and numbers here are invented for the demo.
"""

from __future__ import annotations

from typing import Any, NamedTuple

TENANT_NAME = "Zorggroep De Linde"


class Person(NamedTuple):
    """One demo caller: name parts, how to address them and their language."""

    first: str
    prefix: str  # tussenvoegsel: "van den", "de", ...
    last: str
    gender: str  # "f" or "m": "mevrouw" or "meneer"
    language: str
    first_name_basis: bool = False  # prefers being addressed by first name


PEOPLE: list[Person] = [
    Person("Anouk", "", "Jansen", "f", "nl", True),
    Person("Pieter", "de", "Jong", "m", "nl"),
    Person("Henk", "van den", "Berg", "m", "nl"),
    Person("Willemijn", "", "Smit", "f", "nl"),
    Person("Jeroen", "", "Mulder", "m", "nl"),
    Person("Ingrid", "", "Bos", "f", "nl"),
    Person("Kees", "", "Vos", "m", "nl"),
    Person("Lotte", "", "Peters", "f", "nl", True),
    Person("Ruud", "", "Hendriks", "m", "nl"),
    Person("Els", "van", "Leeuwen", "f", "nl"),
    Person("Bram", "", "Dekker", "m", "nl"),
    Person("Joke", "", "Brouwer", "f", "nl"),
    Person("Gerrit", "de", "Wit", "m", "nl"),
    Person("Yvonne", "", "Dijkstra", "f", "nl"),
    Person("Sem", "", "Smits", "m", "nl", True),
    Person("Mirjam", "de", "Graaf", "f", "nl"),
    Person("Theo", "", "Meijer", "m", "nl"),
    Person("Noor", "van der", "Meer", "f", "nl", True),
    Person("Jan", "van", "Dijk", "m", "nl"),
    Person("Annemarie", "", "Kok", "f", "nl"),
    Person("Daan", "", "Verhoeven", "m", "nl", True),
    Person("Wilma", "", "Koster", "f", "nl"),
    Person("Maarten", "", "Prins", "m", "nl"),
    Person("Femke", "", "Huisman", "f", "nl", True),
    Person("Bas", "", "Schouten", "m", "nl"),
    Person("Lieke", "", "Kuipers", "f", "nl"),
    Person("Rob", "van", "Wijk", "m", "nl"),
    Person("Tineke", "", "Post", "f", "nl"),
    Person("Hanneke", "", "Bosman", "f", "nl"),
    Person("Freek", "van", "Rijn", "m", "nl"),
    Person("Karin", "", "Vermeulen", "f", "nl"),
    Person("Stefan", "de", "Boer", "m", "nl"),
    Person("Lien", "", "Peeters", "f", "nl-BE"),
    Person("Wouter", "", "Janssens", "m", "nl-BE"),
    Person("An", "", "Maes", "f", "nl-BE"),
    Person("Koen", "", "Claes", "m", "nl-BE"),
    Person("Ayşe", "", "Yılmaz", "f", "tr"),  # noqa: RUF001 (Turkish dotless i)
    Person("Mehmet", "", "Kaya", "m", "tr"),
    Person("Elif", "", "Demir", "f", "tr", True),
    Person("Fatima", "", "El Idrissi", "f", "ar"),
    Person("Mohamed", "", "Benali", "m", "ar"),
    Person("Khadija", "", "Ouali", "f", "ar"),
    Person("Emily", "", "Clarke", "f", "en", True),
    Person("James", "", "Wilson", "m", "en"),
]

# The household on one Amersfoort landline: recognition offers all three, ranked.
HOUSEHOLD_NAME = "Familie Bakker"
HOUSEHOLD_LANDLINE = "033-4612837"
HOUSEHOLD: list[Person] = [
    Person("Joost", "", "Bakker", "m", "nl"),
    Person("Marloes", "", "Bakker", "f", "nl"),
    Person("Tim", "", "Bakker", "m", "nl", True),
]

# Organisations that call on behalf of clients: (name, raw number, tag).
ORGANISATIONS: list[tuple[str, str, str]] = [
    ("Huisartsenpraktijk De Berg", "033 465 90 10", "verwijzer"),
    ("Wijkteam Amersfoort-Noord", "033-4699400", "wijkteam"),
]

TAGS = ["client", "client", "client", "mantelzorger", "nieuw", "client"]

# (channel, direction, summary, outcome) of ordinary contact moments.
INTERACTIONS: list[tuple[str, str, str, str]] = [
    (
        "phone",
        "inbound",
        "Vraag over de wachttijd voor een eerste gesprek; uitgelegd hoe de wachtlijst werkt.",
        "informatie gegeven",
    ),
    (
        "phone",
        "inbound",
        "Afspraak verzet naar volgende week dinsdag op verzoek van de beller.",
        "afspraak verzet",
    ),
    (
        "phone",
        "inbound",
        "Belt over een ontvangen factuur; eigen bijdrage toegelicht.",
        "afgehandeld",
    ),
    ("phone", "outbound", "Teruggebeld over de uitslag van het intakegesprek.", "afgehandeld"),
    ("phone", "inbound", "Adreswijziging doorgegeven en in het dossier verwerkt.", "afgehandeld"),
    (
        "phone",
        "inbound",
        "Vraag over vervoer naar de locatie; taxivervoer via de gemeente uitgelegd.",
        "informatie gegeven",
    ),
    (
        "phone",
        "inbound",
        "Klacht over lange wachttijd aan de telefoon; excuses aangeboden en genoteerd.",
        "klacht geregistreerd",
    ),
    (
        "phone",
        "inbound",
        "Wil een andere behandelaar; doorverbonden met de teamleider.",
        "doorverbonden",
    ),
    ("phone", "outbound", "Herinnering gegeven voor de afspraak van morgen.", "afgehandeld"),
    (
        "phone",
        "inbound",
        "Vraag over de verwijzing van de huisarts; verwijzing nog niet "
        "ontvangen, terugbellen afgesproken.",
        "terugbelverzoek",
    ),
    (
        "phone",
        "inbound",
        "Mantelzorger belt namens moeder over de dagbesteding.",
        "informatie gegeven",
    ),
    (
        "phone",
        "inbound",
        "Gemiste oproep teruggebeld; vraag over openingstijden beantwoord.",
        "afgehandeld",
    ),
    ("email", "inbound", "Stuurt de ingevulde vragenlijst terug voor de intake.", "verwerkt"),
    (
        "email",
        "outbound",
        "Informatiefolder over de behandeling per e-mail verstuurd.",
        "informatie verstuurd",
    ),
    (
        "visit",
        "inbound",
        "Aan de balie in Amersfoort langsgekomen om een formulier af te geven.",
        "afgehandeld",
    ),
    ("visit", "inbound", "Kennismakingsgesprek op locatie Utrecht.", "afspraak gemaakt"),
    ("letter", "outbound", "Bevestigingsbrief van de afspraak per post verstuurd.", "verstuurd"),
    ("portal", "inbound", "Bericht via het cliëntportaal: vraag over het zorgplan.", "beantwoord"),
    ("chat", "inbound", "Chatvraag over parkeren bij de locatie.", "informatie gegeven"),
    (
        "phone",
        "inbound",
        "Belt om de afspraak af te zeggen wegens ziekte; nieuwe afspraak ingepland.",
        "afspraak verzet",
    ),
]

# Service profiles for a few callers besides Ada, keyed by display name.
PROFILES: dict[str, dict[str, Any]] = {
    "Henk van den Berg": {
        "accessibility": "Slechthorend: rustig en duidelijk spreken",
        "preferred_channel": "phone",
        "dislikes": ["snel praten", "doorverbonden worden zonder uitleg"],
    },
    "Mehmet Kaya": {
        "language": "tr",
        "interpreter": "tr",
        "preferred_times": "middag (13:00-16:00)",
        "likes": ["telefonische tolk bij het gesprek"],
    },
    "Fatima El Idrissi": {
        "language": "ar",
        "interpreter": "ar",
        "plain_language": True,
        "likes": ["dochter mag meeluisteren"],
    },
    "Emily Clarke": {
        "language": "en",
        "preferred_channel": "email",
        "preferred_times": "na 16:00",
        "likes": ["korte samenvatting per e-mail na het gesprek"],
    },
    "Joke Brouwer": {
        "preferred_place": "Locatie Utrecht",
        "preferred_times": "dinsdag en donderdag",
        "extra_explanation": True,
    },
    "Marloes Bakker": {
        "preferred_times": "na 19:00 (werkt overdag)",
        "preferred_channel": "phone",
        "likes": ["direct de juiste persoon aan de lijn"],
    },
}

ADA_PROFILE: dict[str, Any] = {
    "preferred_times": "ochtend (9:00-12:00)",
    "preferred_channel": "phone",
    "language": "nl",
    "plain_language": True,
    "extra_explanation": True,
    "likes": ["teruggebeld worden door dezelfde medewerker"],
    "dislikes": ["in de wacht gezet worden"],
    "extra": {"tip": "Vat aan het eind van het gesprek de afspraken kort samen."},
}

# Ada's own history: (days ago, channel, direction, summary, outcome, agent extension).
ADA_HISTORY: list[tuple[int, str, str, str, str, str]] = [
    (
        40,
        "phone",
        "inbound",
        "Belt over de verwijzing van haar huisarts; uitgelegd dat de "
        "verwijzing via ZorgDomein binnenkomt en wat daarna gebeurt.",
        "informatie gegeven",
        "201",
    ),
    (
        12,
        "letter",
        "outbound",
        "Ontvangstbevestiging van de verwijzing per post verstuurd.",
        "verstuurd",
        "201",
    ),
    (
        2,
        "phone",
        "inbound",
        "Vraagt wanneer de intake is; Sanne belt terug zodra de datum "
        "bekend is. Wil niet in de wacht gezet worden.",
        "terugbelverzoek",
        "202",
    ),
]

ADA_NAME = "Ada de Vries"
ADA_NUMBER = "+31612345678"
ADA_RAW = "06-12345678"
ADA_CASE_REFERENCE = "ZD-2026-0042"

# The Amersfoort line's number (E.164): `stamgast simulate-call` calls it by default.
AMERSFOORT_LINE_NUMBER = "+31333031100"
# (raw number, label, location): the two called numbers, both answered by one team.
LINES: list[tuple[str, str, str]] = [
    (AMERSFOORT_LINE_NUMBER, "Zorggroep De Linde Amersfoort", "Locatie Amersfoort"),
    ("+31 30 303 2200", "Zorggroep De Linde Utrecht", "Locatie Utrecht"),
]
TEAM = "Klantcontact"
# (name, extension, mailbox)
# Sanne (the demo widget's agent) supervises, so the demo shows the whole card and her token
# opens /dashboard too; Youssef is the front desk, who sees no notes or sensitive notices.
AGENTS: list[tuple[str, str, str, str]] = [
    ("Sanne Visser", "201", "sanne.visser", "supervisor"),
    ("Youssef El Amrani", "202", "youssef.elamrani", "agent"),
]
MAIL_DOMAIN = "delinde.example"

# Cases by contact name; times in days before now.
CASES: list[dict[str, Any]] = [
    {
        "contact": ADA_NAME,
        "reference": ADA_CASE_REFERENCE,
        "kind": "referral",
        "status": "waiting",
        "next_step": "Intake gepland na ontvangst verwijzing",
        "owner": "Sanne Visser",
        "created_days": 41,
        "updated_days": 12,
    },
    {
        "contact": "Joke Brouwer",
        "reference": "WL-2026-0107",
        "kind": "waiting_list",
        "status": "waiting",
        "position": 12,
        "next_step": "Plaatsing dagbesteding Utrecht",
        "owner": "Youssef El Amrani",
        "created_days": 75,
        "updated_days": 6,
    },
    {
        "contact": "Mehmet Kaya",
        "reference": "AV-2026-0019",
        "kind": "application",
        "status": "in_review",
        "next_step": "Beoordeling aanvraag huishoudelijke hulp",
        "owner": "Sanne Visser",
        "created_days": 20,
        "updated_days": 3,
    },
]

# Callback requests by contact name (None: a bare number); times in hours relative to now.
CALLBACKS: list[dict[str, Any]] = [
    {
        "contact": ADA_NAME,  # overdue: due yesterday
        "reason": "Wil weten wanneer de intake is; graag teruggebeld door Sanne, 's ochtends.",
        "requested_hours_ago": 48,
        "due_in_hours": -24,
        "status": "open",
        "assignee": "201",
    },
    {
        "contact": "Henk van den Berg",
        "reason": "Vraag over de eigen bijdrage; factuur erbij pakken.",
        "requested_hours_ago": 3,
        "due_in_hours": 24,
        "status": "open",
        "assignee": "202",
    },
    {
        "contact": "Lotte Peters",
        "reason": "Afspraak bevestigen.",
        "requested_hours_ago": 216,
        "due_in_hours": -192,
        "status": "done",
        "attempts": 1,
        "assignee": "201",
    },
    {
        "contact": None,
        "reason": "Gemiste oproep buiten openingstijden (onbekend nummer).",
        "requested_hours_ago": 14,
        "due_in_hours": 4,
        "status": "open",
        "assignee": None,
    },
]

# Notices: for one line (by location) or the whole tenant (None); days relative to now.
NOTICES: list[dict[str, Any]] = [
    {
        "location": "Locatie Amersfoort",
        "severity": "warning",
        "title": "Wegwerkzaamheden bij locatie Amersfoort: parkeren via de Stationsweg",
        "body": "De hoofdingang is tot het einde van de werkzaamheden alleen te voet "
        "bereikbaar. Parkeren kan via de Stationsweg; de route is aangegeven.",
        "started_days_ago": 2,
        "ends_in_days": 30,
    },
    {
        "location": None,
        "severity": "info",
        "title": "Nieuwe openingstijden telefoon: op vrijdag bereikbaar tot 17:00",
        "body": "Vanaf deze maand zijn wij op vrijdag telefonisch bereikbaar van 8:30 tot 17:00.",
        "started_days_ago": 7,
        "ends_in_days": 60,
    },
]
