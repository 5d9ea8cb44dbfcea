"""Adapter name → adapter, the one place that lists every supported phone system."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from telephony_adapters.amazon_connect import AmazonConnectAdapter
from telephony_adapters.base import Adapter
from telephony_adapters.generic import GenericAdapter
from telephony_adapters.jambonz import JambonzAdapter
from telephony_adapters.kamailio import KamailioAdapter
from telephony_adapters.originate import HttpOriginator
from telephony_adapters.originate_ari import AriOriginator
from telephony_adapters.originate_plivo import PlivoOriginator
from telephony_adapters.originate_telnyx import TelnyxOriginator
from telephony_adapters.originate_twilio import TwilioOriginator
from telephony_adapters.originate_vonage import VonageOriginator
from telephony_adapters.placetel import PlacetelAdapter
from telephony_adapters.plivo import PlivoAdapter
from telephony_adapters.sipgate import SipgateAdapter
from telephony_adapters.telnyx import TelnyxAdapter
from telephony_adapters.twilio import TwilioAdapter
from telephony_adapters.twilio_twiml import check_options as check_twilio_options
from telephony_adapters.vonage import VonageAdapter
from telephony_adapters.zammad_cti import ZammadCtiAdapter

ADAPTERS: dict[str, Adapter] = {
    "amazon_connect": AmazonConnectAdapter(),
    "generic": GenericAdapter(),
    "jambonz": JambonzAdapter(),
    "kamailio": KamailioAdapter(),
    "placetel": PlacetelAdapter(),
    "plivo": PlivoAdapter(),
    "sipgate": SipgateAdapter(),
    "telnyx": TelnyxAdapter(),
    "twilio": TwilioAdapter(),
    "vonage": VonageAdapter(),
    "zammad_cti": ZammadCtiAdapter(),
}


# Adapters whose options can be wrong in ways that hurt callers: each lists the problems.
OPTION_CHECKS: dict[str, Callable[[Mapping[str, str]], list[str]]] = {
    "twilio": check_twilio_options,
}


# Phone systems that can call a caller back (ring the agent, then connect the caller) over
# HTTP; FreeSWITCH does it over its event socket (telephony_adapters/originate_esl.py).
ORIGINATORS: dict[str, HttpOriginator] = {
    "asterisk_ari": AriOriginator(),
    "plivo": PlivoOriginator(),
    "telnyx": TelnyxOriginator(),
    "twilio": TwilioOriginator(),
    "vonage": VonageOriginator(),
}


def get_adapter(name: str) -> Adapter | None:
    """The adapter registered under `name`, or None."""
    return ADAPTERS.get(name)
