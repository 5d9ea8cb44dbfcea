"""Every recorded vendor request names where it came from, and every phone system is proven
with material its vendor wrote, not only with payloads we wrote from our reading."""

from __future__ import annotations

import pytest

from telephony_adapters.registry import ADAPTERS
from tests.support import vendor_fixtures

# Our own formats: nobody else can author their requests. Kamailio posts what our shipped
# kamailio.cfg builds; it is proven by a real Kamailio and sipp (tests/test_kamailio_*.py).
OURS = {"generic", "kamailio"}
# Folders whose names differ from the provider, and the stream-protocol connectors.
FOLDERS = {name: name for name in ADAPTERS} | {
    "asterisk_ari": "asterisk", "asterisk_ami": "asterisk", "freeswitch": "freeswitch",
    "threecx": "threecx",
}  # fmt: skip


@pytest.mark.parametrize("folder", sorted(set(FOLDERS.values())))
def test_every_fixture_names_its_source(folder: str) -> None:
    fixtures = vendor_fixtures.all_fixtures(folder)
    assert fixtures, f"tests/fixtures/{folder}/ is empty"
    for fixture in fixtures:
        assert fixture.sources, fixture.path
        # A GET carries its fields in the URL, every other request in its body.
        assert fixture.body or (fixture.method == "GET" and fixture.url), fixture.path


@pytest.mark.parametrize("provider", sorted(set(FOLDERS) - OURS))
def test_every_phone_system_is_proven_with_vendor_material(provider: str) -> None:
    authored = [f for f in vendor_fixtures.all_fixtures(FOLDERS[provider])]
    assert any(f.authored_by == "vendor" for f in authored), provider
