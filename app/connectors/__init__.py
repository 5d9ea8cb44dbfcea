"""Connections we hold to phone systems' event streams (Asterisk AMI/ARI, FreeSWITCH ESL).

The protocol parts (framing, per-call state) are pure and live in `telephony_adapters`;
here are the sockets, logins, reconnects and the hand-off to the webhook receiver.
"""

from app.connectors.lifespan import connector_states, start_connectors, stop_connectors

__all__ = ["connector_states", "start_connectors", "stop_connectors"]
