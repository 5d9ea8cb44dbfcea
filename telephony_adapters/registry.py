"""Adapter name → adapter, the one place that lists every supported phone system."""

from __future__ import annotations

from telephony_adapters.base import Adapter
from telephony_adapters.generic import GenericAdapter
from telephony_adapters.twilio import TwilioAdapter

ADAPTERS: dict[str, Adapter] = {
    "generic": GenericAdapter(),
    "twilio": TwilioAdapter(),
}


def get_adapter(name: str) -> Adapter | None:
    """The adapter registered under `name`, or None."""
    return ADAPTERS.get(name)
