"""What each vendor's tests hand the shared adapter contract test.

Every adapter in `telephony_adapters.registry.ADAPTERS` has a `VendorCase` in
`tests/adapters/cases_<provider>.py` (a module-level `CASE`), built from the vendor's
documented fields and signed with the vendor's own SDK where one exists. The contract
test (`tests/adapters/test_adapter_contract.py`) runs the same checks over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from telephony_adapters.base import AdapterConfig, AdapterRequest

Scenario = Literal["ringing", "answered", "ended", "ignored"]


@dataclass(frozen=True)
class Signing:
    """How to sign a request: with the right key, another key, none at all, or too late."""

    key: str | None = None  # None: the case's own secret
    unsigned: bool = False  # leave the signature (or secret header) out
    stale: bool = False  # a timestamp older than the vendor's tolerance


class VendorCase(Protocol):
    """One vendor's requests for the contract test."""

    provider: str
    config: AdapterConfig
    has_timestamp: bool  # the scheme refuses stale deliveries

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        """A delivery to `url` (http://testserver/webhooks/<provider>/<tenant>) for `scenario`:
        a call from +31612345678 ringing, answered (by extension "201" where the vendor can
        say so), ended, or an event type the adapter must ignore."""

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        """The same request with its body (or signed parameters) altered, signature kept."""
