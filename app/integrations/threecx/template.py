"""The 3CX CRM template (XML) a tenant's admin uploads to make 3CX call us.

Built with ElementTree, so every URL and value is escaped and the result is well-formed
whatever the tenant slug or base URL holds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

from app.integrations.threecx import SECRET_HEADER
from telephony_adapters.base import NumberStyle

SECRET_PARAMETER = "StamgastSecret"
JOURNAL_PARAMETER = "ReportCallEnabled"

# (3CX output type, path in our lookup JSON): what the template's Variables read.
CONTACT_OUTPUTS = (
    ("ContactID", "contacts.id"),
    ("FirstName", "contacts.firstName"),
    ("LastName", "contacts.lastName"),
    ("CompanyName", "contacts.company"),
    ("PhoneBusiness", "contacts.phoneBusiness"),
    ("PhoneMobile", "contacts.phoneMobile"),
    ("Email", "contacts.email"),
    ("ContactUrl", "contacts.contactUrl"),
)


def _utc(variable: str) -> str:
    # 3CX prints DateTime variables in the PBX's culture; this expression makes them ISO UTC.
    return f'[[{variable}].ToString("yyyy-MM-ddTHH:mm:ssZ")]'


# (our JSON key, 3CX expression, passes): the ReportCall body. An expression needs
# two evaluation passes (inner variable, then the call); a plain variable none.
JOURNAL_VALUES = (
    ("Number", "[Number]", 0),
    ("CallType", "[CallType]", 0),
    ("Agent", "[Agent]", 0),
    ("Duration", "[Duration]", 0),
    ("DateTime", "[DateTime]", 0),
    ("CallStartTimeUTC", _utc("CallStartTimeUTC"), 2),
    ("CallEndTimeUTC", _utc("CallEndTimeUTC"), 2),
)


# How 3CX rewrites a number's international prefix before filling in [Number] (3CX's
# template description: AsIs keeps "+"/"00", Off drops it, Plus makes it "+", Zeros "00").
# AsIs: 3CX passes on what the trunk delivered, and our reader takes every form.
NUMBER_PREFIX = "AsIs"


def number_style(prefix: str) -> NumberStyle:
    """How [Number] reads under a template's `Number Prefix`.

    Plus and AsIs keep the country code wherever the trunk gave one ("+31…", "0031…", or
    bare E.164 digits "31612…" from trunks that drop the "+"): a bare digit string is then
    E.164. Off strips the prefix and leaves "31612…" and "0612…" alike, and Zeros writes
    "0031…": both are read as dialled (an E.164 reading would mistake national numbers).
    """
    if prefix in ("Plus", "AsIs"):
        return NumberStyle.E164
    if prefix in ("Off", "Zeros"):
        return NumberStyle.DIALLED
    raise ValueError(f"unknown 3CX Number Prefix {prefix!r}: AsIs, Off, Plus or Zeros")


NUMBER_STYLE = number_style(NUMBER_PREFIX)


def integration_urls(base_url: str, tenant_slug: str) -> tuple[str, str]:
    """The lookup URL (with 3CX's `[Number]` placeholder) and the journal URL of a tenant."""
    root = f"{base_url.rstrip('/')}/integrations/3cx/{quote(tenant_slug, safe='')}"
    return f"{root}/lookup?number=[Number]", f"{root}/journal"


def _headers(request: ET.Element) -> None:
    headers = ET.SubElement(request, "Headers")
    value = ET.SubElement(headers, "Value", Key=SECRET_HEADER, Passes="0", Type="String")
    value.text = f"[{SECRET_PARAMETER}]"


def _parameters(crm: ET.Element, secret: str | None) -> None:
    parameters = ET.SubElement(crm, "Parameters")
    ET.SubElement(
        parameters,
        "Parameter",
        Name=SECRET_PARAMETER,
        Type="Password",
        Parent="General Configuration",
        Editor="String",
        Title=f"Stamgast secret (sent as {SECRET_HEADER}):",
        Default=secret or "",
    )
    ET.SubElement(
        parameters,
        "Parameter",
        Name=JOURNAL_PARAMETER,
        Type="Boolean",
        Parent="General Configuration",
        Editor="String",
        Title="Journal calls in Stamgast (interactions, callback requests):",
        Default="True",
    )


def _lookup_scenario(scenarios: ET.Element, url: str) -> None:
    # The default scenario has no Id, as in 3CX's production templates.
    scenario = ET.SubElement(scenarios, "Scenario", Type="REST")
    request = ET.SubElement(
        scenario,
        "Request",
        SkipIf="",
        Url=url,
        MessagePasses="0",
        RequestEncoding="UrlEncoded",
        RequestType="Get",
        ResponseType="Json",
    )
    _headers(request)
    rules = ET.SubElement(scenario, "Rules")
    ET.SubElement(rules, "Rule", Type="Any").text = "contacts.id"
    variables = ET.SubElement(scenario, "Variables")
    for name, path in CONTACT_OUTPUTS:
        variable = ET.SubElement(variables, "Variable", Name=name, Path=path)
        ET.SubElement(variable, "Filter")
    outputs = ET.SubElement(scenario, "Outputs", AllowEmpty="false")
    for name, _path in CONTACT_OUTPUTS:
        ET.SubElement(outputs, "Output", Type=name, Passes="0", Value=f"[{name}]")


def _journal_scenario(scenarios: ET.Element, url: str) -> None:
    scenario = ET.SubElement(scenarios, "Scenario", Id="ReportCall", Type="REST")
    request = ET.SubElement(
        scenario,
        "Request",
        SkipIf=f"[{JOURNAL_PARAMETER}]!=True",
        Url=url,
        MessagePasses="0",
        RequestEncoding="Json",
        RequestType="Post",
        ResponseType="Json",
    )
    _headers(request)
    values = ET.SubElement(request, "PostValues")
    for key, expression, passes in JOURNAL_VALUES:
        value = ET.SubElement(values, "Value", Key=key, Passes=str(passes), Type="String")
        value.text = expression
    ET.SubElement(scenario, "Variables")
    ET.SubElement(scenario, "Outputs", AllowEmpty="true")


def render_template(
    *, base_url: str, tenant_slug: str, country: str, secret: str | None = None
) -> str:
    """The tenant's template; the secret is filled in only when given (else the admin types it)."""
    lookup_url, journal_url = integration_urls(base_url, tenant_slug)
    crm = ET.Element(
        "Crm",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
            "Country": country,
            "Name": "Stamgast",
            "Version": "1",
            "SupportsEmojis": "true",
        },
    )
    # AsIs: 3CX sends the number as it came in; our normaliser reads every format, and an
    # empty MaxLength keeps 3CX from cutting digits off before we see them.
    ET.SubElement(crm, "Number", Prefix=NUMBER_PREFIX, MaxLength="")
    ET.SubElement(crm, "Connection", MaxConcurrentRequests="8")
    _parameters(crm, secret)
    # The secret travels in a header of each request, not in 3CX's Authentication element.
    ET.SubElement(crm, "Authentication", Type="No")
    scenarios = ET.SubElement(crm, "Scenarios")
    _lookup_scenario(scenarios, lookup_url)
    _journal_scenario(scenarios, journal_url)
    ET.indent(crm, space="  ")
    body = ET.tostring(crm, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'
