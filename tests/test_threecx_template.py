"""3CX: the CRM template, the route that serves it, and 3CX's own description and templates."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from app.integrations.threecx import template
from app.integrations.threecx.template import render_template
from telephony_adapters.base import NumberStyle
from tests.conftest import TenantCtx
from tests.support import vendor_fixtures
from tests.support.threecx import SECRET, app, connect

__all__ = ["app"]  # fixture: this module's app includes the 3CX routes

# --- the template -------------------------------------------------------------------------


def test_template_matches_the_snapshot_and_is_well_formed() -> None:
    xml = render_template(
        base_url="https://stamgast.example.org/", tenant_slug="zorg-eemland", country="NL"
    )
    assert xml == vendor_fixtures.load("threecx", "stamgast-template.xml").text
    crm = ET.fromstring(xml.encode())
    assert crm.tag == "Crm"
    assert crm.find("Number").attrib["Prefix"] == "AsIs"  # type: ignore[union-attr]
    scenarios = {s.get("Id", ""): s for s in crm.iter("Scenario")}
    assert set(scenarios) == {"", "ReportCall"}
    outputs = {o.attrib["Type"] for o in scenarios[""].iter("Output")}
    assert outputs == {
        "ContactID",
        "FirstName",
        "LastName",
        "CompanyName",
        "PhoneBusiness",
        "PhoneMobile",
        "Email",
        "ContactUrl",
    }
    posted = {v.attrib["Key"] for v in scenarios["ReportCall"].iter("Value")}
    assert {"Number", "CallType", "Agent", "Duration", "CallStartTimeUTC"} <= posted


async def test_template_route_names_this_tenants_urls_and_header(
    api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    missing = await api.get("/integrations/3cx/template.xml")
    assert missing.status_code == 404
    assert "PUT /v1/providers/threecx" in missing.json()["message"]
    await connect(api)

    response = await api.get("/integrations/3cx/template.xml", params={"tenant": tenant.slug})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert "attachment" in response.headers["content-disposition"]
    crm = ET.fromstring(response.content)
    urls = [r.attrib["Url"] for r in crm.iter("Request")]
    base = f"http://testserver/integrations/3cx/{tenant.slug}"
    assert urls == [f"{base}/lookup?number=[Number]", f"{base}/journal"]
    for request in crm.iter("Request"):
        header = request.find("Headers/Value")
        assert header is not None and header.attrib["Key"] == "X-Stamgast-Secret"
        assert header.text == "[StamgastSecret]"
    [secret] = [p for p in crm.iter("Parameter") if p.attrib["Name"] == "StamgastSecret"]
    assert secret.attrib["Default"] == ""
    assert SECRET not in response.text

    filled = await api.get("/integrations/3cx/template.xml", params={"include_secret": "true"})
    assert filled.status_code == 200
    [secret] = [
        p
        for p in ET.fromstring(filled.content).iter("Parameter")
        if p.attrib["Name"] == "StamgastSecret"
    ]
    assert secret.attrib["Default"] == SECRET
    assert filled.headers["cache-control"] == "no-store"

    other = await api.get("/integrations/3cx/template.xml", params={"tenant": "someone-else"})
    assert other.status_code == 404
    anonymous = await client.get("/integrations/3cx/template.xml")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("prefix", "style"),
    [
        ("AsIs", NumberStyle.E164),
        ("Plus", NumberStyle.E164),
        ("Off", NumberStyle.DIALLED),
        ("Zeros", NumberStyle.DIALLED),
    ],
)
def test_number_prefix_decides_the_number_style(prefix: str, style: NumberStyle) -> None:
    assert template.number_style(prefix) is style


def test_unknown_number_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="AsIs, Off, Plus or Zeros"):
        template.number_style("Minus")


# --- our template against 3CX's description and templates in production ----------------------

PRODUCTION = ("zammad.xml", "pipedrive.xml")
# From 3CX's "CRM template XML description":
# https://www.3cx.com/docs/server-side-crm-template-xml-description/
DESCRIBED_CHILDREN = ["Number", "Connection", "Parameters", "Authentication", "Scenarios"]
DESCRIBED_PREFIXES = {"AsIs", "Off", "Plus", "Zeros"}
# Where we differ from every production template on purpose (docs/3cx.md explains each):
# the secret is typed into a Password field, as numbers.online's published template does.
EXPLAINED = {("Parameter", "Type", "Password")}


def _ours() -> ET.Element:
    return ET.fromstring(vendor_fixtures.load("threecx", "stamgast-template.xml").body)


def _production() -> list[ET.Element]:
    return [ET.fromstring(vendor_fixtures.load("threecx", name).body) for name in PRODUCTION]


def _attributes(root: ET.Element) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for element in root.iter():
        seen.setdefault(element.tag, set()).update(element.attrib)
    return seen


def _values(roots: list[ET.Element], tag: str, attribute: str) -> set[str]:
    return {e.attrib[attribute] for root in roots for e in root.iter(tag) if attribute in e.attrib}


def _report_values(root: ET.Element) -> dict[str, ET.Element]:
    [scenario] = [s for s in root.iter("Scenario") if s.get("Id") == "ReportCall"]
    return {v.attrib["Key"]: v for v in scenario.iterfind("Request/PostValues/Value")}


def test_fixtures_are_production_templates_with_their_source() -> None:
    for name in PRODUCTION:
        fixture = vendor_fixtures.load("threecx", name)
        assert fixture.authored_by == "vendor"
        assert fixture.sources[0].startswith("https://github.com/")
        assert ET.fromstring(fixture.body).tag == "Crm"


def test_template_has_the_described_elements_in_order() -> None:
    ours = _ours()
    assert [child.tag for child in ours] == DESCRIBED_CHILDREN
    for production in _production():
        assert [child.tag for child in production] == DESCRIBED_CHILDREN
    number = ours.find("Number")
    assert number is not None and number.attrib["Prefix"] in DESCRIBED_PREFIXES
    assert number.attrib["MaxLength"] == ""  # described: empty keeps the number whole


def test_template_uses_only_elements_and_attributes_production_templates_use() -> None:
    ours = _attributes(_ours())
    seen: dict[str, set[str]] = {}
    for production in _production():
        for tag, names in _attributes(production).items():
            seen.setdefault(tag, set()).update(names)
    unknown_tags = set(ours) - set(seen)
    assert unknown_tags == set()
    unknown = {(tag, name) for tag, names in ours.items() for name in names - seen[tag]}
    assert unknown == set()


@pytest.mark.parametrize(
    ("tag", "attribute"),
    [
        ("Request", "RequestEncoding"),
        ("Request", "RequestType"),
        ("Request", "ResponseType"),
        ("Rule", "Type"),
        ("Output", "Type"),
        ("Parameter", "Type"),
        ("Parameter", "Editor"),
        ("Authentication", "Type"),
        ("Scenario", "Type"),
    ],
)
def test_template_uses_only_values_production_templates_use(tag: str, attribute: str) -> None:
    ours = _values([_ours()], tag, attribute)
    production = _values(_production(), tag, attribute)
    unexplained = {v for v in ours - production if (tag, attribute, v) not in EXPLAINED}
    assert unexplained == set()


def test_headers_sit_in_the_request_as_in_production() -> None:
    [zammad, _] = _production()
    production = [r.find("Headers/Value") for r in zammad.iter("Request")]
    assert any(v is not None and v.attrib["Key"] == "Authorization" for v in production)
    for request in _ours().iter("Request"):
        [value] = request.iterfind("Headers/Value")
        assert value.attrib["Key"] == "X-Stamgast-Secret"
        assert value.text == "[StamgastSecret]"


def test_report_posts_3cx_variables_as_production_does() -> None:
    """Each value we post names the same key and expression (and passes) as Zammad's."""
    ours = _report_values(_ours())
    zammad = _report_values(_production()[0])
    assert set(ours) <= set(zammad)
    for key, value in ours.items():
        theirs = zammad[key]
        assert (value.attrib["Passes"], value.attrib["Type"]) == (
            theirs.attrib["Passes"],
            theirs.attrib["Type"],
        ), key
        if value.attrib["Passes"] == "0":
            assert value.text == theirs.text == f"[{key}]"
        else:  # a formatted time: the same variable through ToString, evaluated twice
            assert value.text is not None and theirs.text is not None
            assert value.text.startswith(f"[[{key}].ToString(") and theirs.text.startswith(
                f"[[{key}].ToString("
            )


def test_report_scenario_is_skipped_as_in_production() -> None:
    def skip_if(root: ET.Element) -> str:
        [scenario] = [s for s in root.iter("Scenario") if s.get("Id") == "ReportCall"]
        request = scenario.find("Request")
        assert request is not None
        return request.attrib["SkipIf"]

    assert {skip_if(r) for r in _production()} == {skip_if(_ours())}


def test_lookup_outputs_are_types_3cx_knows() -> None:
    ours = [s for s in _ours().iter("Scenario") if "Id" not in s.attrib]
    assert len(ours) == 1  # the default scenario has no Id, as in production
    produced = _values(_production(), "Output", "Type")
    assert {o.attrib["Type"] for o in ours[0].iter("Output")} <= produced
