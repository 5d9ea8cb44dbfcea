"""Source kind → how to build it from its stored config (a plain dict, as adapters are)."""

from __future__ import annotations

from collections.abc import Callable

from app.models import LookupSource
from app.sources.base import Source
from app.sources.schemas import CardDavConfig, FhirConfig, HttpConfig, LdapConfig

Builder = Callable[[LookupSource], Source]


# Every kind's client is loaded by the first source of that kind, not by every server that
# has none: httpx brings ~5 MiB resident (and, when installed, rich and pygments through its
# command line module, ~4 MiB more); ldap3 and vobject are libraries of their own
# (bench/import_memory.py).


def _http(row: LookupSource) -> Source:
    from app.sources.http_source import HttpSource

    return HttpSource(HttpConfig.model_validate(row.config), row.secret, row.timeout_ms / 1000)


def _ldap(row: LookupSource) -> Source:
    from app.sources.ldap_source import LdapSource

    return LdapSource(LdapConfig.model_validate(row.config), row.secret, row.timeout_ms / 1000)


def _carddav(row: LookupSource) -> Source:
    from app.sources.carddav_source import CardDavSource

    config = CardDavConfig.model_validate(row.config)
    return CardDavSource(config, row.secret, row.timeout_ms / 1000)


def _fhir(row: LookupSource) -> Source:
    from app.sources.fhir_source import FhirSource

    return FhirSource(FhirConfig.model_validate(row.config), row.secret, row.timeout_ms / 1000)


BUILDERS: dict[str, Builder] = {
    "http": _http, "ldap": _ldap, "carddav": _carddav, "fhir": _fhir,
}  # fmt: skip


def build(row: LookupSource) -> Source:
    """The source a stored row describes; KeyError for a kind this version cannot ask."""
    return BUILDERS[row.kind](row)
