"""What the API takes and gives for lookup sources; each kind checks its own config."""

from __future__ import annotations

import string
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.phone import is_valid_region

SourceKind = Literal["http", "ldap", "carddav", "fhir"]
PLACEHOLDERS = frozenset({"e164", "national", "digits"})
_EXAMPLE = {"e164": "+31201234567", "national": "0201234567", "digits": "31201234567"}


def check_template(value: str, allowed: frozenset[str] = PLACEHOLDERS) -> str:
    """A template may name only the number's forms ({e164}, {national}, {digits})."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(
            f"cannot read the template ({exc}): write braces as {{{{ and }}}}"
        ) from None
    unknown = names - allowed
    if unknown or any(not name for name in names):
        shown = ", ".join(sorted(f"{{{n}}}" for n in unknown)) or "{}"
        raise ValueError(
            f"unknown placeholder {shown}: use {', '.join(sorted(f'{{{a}}}' for a in allowed))}"
        )
    return value


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    """A URL of one of `schemes` with a host (placeholders allowed in path and query)."""
    parts = urlsplit(value.format(**_EXAMPLE) if "{" in value else value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"must be an absolute {' or '.join(schemes)} URL, e.g. {schemes[0]}://host/"
        )
    return value


def check_expression(value: str | None) -> str | None:
    """A JMESPath expression that compiles (https://jmespath.org/specification.html)."""
    if value is None:
        return None
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression: {exc}".replace("\n", " ")) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpMapping(_Strict):
    """JMESPath expressions from one record of the response to the card's fields."""

    display_name: str = Field(examples=["name"], max_length=500)
    form_of_address: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, examples=["to_string(id)"], max_length=500)
    deep_link: str | None = Field(
        default=None,
        examples=["join('', ['https://crm.example.org/people/', to_string(id)])"],
        max_length=500,
    )
    organisation: str | None = Field(default=None, max_length=500)
    language: str | None = Field(default=None, max_length=500)
    flags: str | None = Field(default=None, description="A list of strings", max_length=500)
    last_activity: str | None = Field(default=None, max_length=500)

    @field_validator("*")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        return check_expression(value)


class HttpConfig(_Strict):
    """Any JSON API: a GET on `url` with the number filled in, read with JMESPath."""

    url: str = Field(
        max_length=2000,
        examples=["https://crm.example.org/api/people?phone={e164}"],
        description="The number as {e164} (+31201234567), {national} (0201234567) or "
        "{digits} (31201234567), URL-encoded",
    )
    headers: dict[str, str] = Field(default={}, max_length=20)
    auth: Literal["none", "bearer", "basic", "api_key"] = Field(
        default="none",
        description="bearer: the secret is the token; basic: `username` and the secret as "
        "password; api_key: the secret in the header `api_key_header`",
    )
    username: str | None = Field(default=None, max_length=200)
    api_key_header: str = Field(default="X-API-Key", max_length=100, pattern=r"^[A-Za-z0-9-]+$")
    records: str | None = Field(
        default=None,
        max_length=500,
        examples=["data.results"],
        description="JMESPath to the list of matches (or one match); unset: the body itself",
    )
    mapping: HttpMapping

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(check_template(value), ("https", "http"))

    @field_validator("records")
    @classmethod
    def _records(cls, value: str | None) -> str | None:
        return check_expression(value)


class LdapFields(_Strict):
    """Which LDAP attribute fills which field of the card (AD names by default)."""

    display_name: str = "displayName"
    organisation: str | None = "department"
    title: str | None = "title"
    language: str | None = "preferredLanguage"
    external_id: str | None = Field(
        default=None, description="An attribute such as objectGUID or employeeNumber; unset: the DN"
    )


class LdapConfig(_Strict):
    """An LDAP directory or Active Directory, searched with a filter over phone attributes."""

    url: str = Field(max_length=500, examples=["ldaps://dc1.example.org:636"])
    base_dn: str = Field(min_length=1, max_length=500, examples=["ou=people,dc=example,dc=org"])
    bind_dn: str | None = Field(
        default=None,
        max_length=500,
        description="Unset: an anonymous bind; the secret is its password",
    )
    filter: str = Field(
        default="(|(telephoneNumber={e164})(mobile={e164})(homePhone={e164}))",
        max_length=1000,
        description="{e164}, {national}, {digits} are escaped before they go in",
    )
    fields: LdapFields = LdapFields()
    deep_link: str | None = Field(
        default=None,
        max_length=1000,
        examples=["https://intranet.example.org/people/{external_id}"],
        description="A link built from {external_id}",
    )
    size_limit: int = Field(default=5, ge=1, le=50)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, ("ldap", "ldaps"))

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        check_template(value)
        if not (value.startswith("(") and value.endswith(")")):
            raise ValueError(
                "an LDAP filter is wrapped in parentheses, e.g. (telephoneNumber={e164})"
            )
        return value

    @field_validator("deep_link")
    @classmethod
    def _deep_link(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, frozenset({"external_id"}))


class CardDavConfig(_Strict):
    """A CardDAV address book, read whole and kept in memory, refreshed when it changes."""

    url: str = Field(max_length=2000, examples=["https://dav.example.org/alice/contacts/"])
    username: str | None = Field(
        default=None, max_length=200, description="The secret is its password"
    )
    refresh_seconds: int = Field(
        default=300, ge=1, le=86_400, description="How often to ask the book whether it changed"
    )
    region: str = Field(
        default="NL",
        min_length=2,
        max_length=2,
        description="Where numbers written without a country code are read (0612345678)",
    )
    deep_link: str | None = Field(
        default=None,
        max_length=1000,
        examples=["https://contacts.example.org/card/{external_id}"],
        description="A link built from {external_id} (the vCard UID) or {href} (its URL)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, ("https", "http"))

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not is_valid_region(value.upper()):
            raise ValueError(f"unknown region {value!r}: use an ISO country code such as NL")
        return value.upper()

    @field_validator("deep_link")
    @classmethod
    def _deep_link(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, frozenset({"external_id", "href"}))


class FhirConfig(_Strict):
    """A FHIR R4 server: Patient, RelatedPerson and Practitioner searched by telecom (the
    secret, when set, is sent as a bearer token)."""

    base_url: str = Field(max_length=2000, examples=["https://fhir.example.org/r4"])
    resources: list[Literal["Patient", "RelatedPerson", "Practitioner"]] = Field(
        default=["Patient", "RelatedPerson", "Practitioner"], min_length=1
    )
    deep_link: str | None = Field(
        default=None,
        max_length=1000,
        examples=["https://ecd.example.org/clients/{id}"],
        description="{type} and {id} of the resource; unset: its FHIR URL",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, ("https", "http"))

    @field_validator("deep_link")
    @classmethod
    def _deep_link(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, frozenset({"type", "id"}))


CONFIGS: dict[str, type[BaseModel]] = {
    "http": HttpConfig, "ldap": LdapConfig, "carddav": CardDavConfig, "fhir": FhirConfig,
}  # fmt: skip

SourceName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f]+$",
        examples=["CRM"],
        description='Shown on the card as where a fact came from ("from CRM")',
    ),
]


class _SourceBase(_Strict):
    name: SourceName
    enabled: bool = True
    timeout_ms: int = Field(
        default=2000,
        ge=50,
        le=30_000,
        description="How long one query may take; an answer after the call's deadline updates "
        "the card when it comes",
    )
    cache_seconds: int = Field(
        default=300, ge=0, le=86_400, description="How long an answer is kept"
    )
    secret: str | None = Field(
        default=None,
        max_length=4096,
        description="Token or password (write-only); left out on a replace: the stored one stays",
    )


class HttpSourceIn(_SourceBase):
    """An HTTP/JSON source."""

    kind: Literal["http"]
    config: HttpConfig


class LdapSourceIn(_SourceBase):
    """An LDAP/Active Directory source."""

    kind: Literal["ldap"]
    config: LdapConfig


class CardDavSourceIn(_SourceBase):
    """A CardDAV address book."""

    kind: Literal["carddav"]
    config: CardDavConfig


class FhirSourceIn(_SourceBase):
    """A FHIR R4 server."""

    kind: Literal["fhir"]
    config: FhirConfig


SourceIn = Annotated[
    HttpSourceIn | LdapSourceIn | CardDavSourceIn | FhirSourceIn, Field(discriminator="kind")
]


class SourceOut(BaseModel):
    """A configured source; its secret is never shown, only whether one is set."""

    id: int
    name: str
    kind: SourceKind
    enabled: bool
    config: dict[str, Any]
    has_secret: bool
    timeout_ms: int
    cache_seconds: int
    created_at: datetime
    updated_at: datetime


class SourceRecordOut(BaseModel):
    """One match as the source gave it, mapped to our fields."""

    display_name: str | None
    form_of_address: str | None
    external_id: str | None
    deep_link: str | None
    organisation: str | None
    language: str | None
    flags: list[str]
    last_activity: str | None
    details: dict[str, str]


class SourceTestOut(BaseModel):
    """What a source answered for one number, and how long it took."""

    source: str
    number: str = Field(description="The number asked, in E.164")
    elapsed_ms: float
    ok: bool
    error: str | None = Field(default=None, description="Why the source gave no answer")
    records: list[SourceRecordOut]
