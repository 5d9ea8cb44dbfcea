"""FreeSWITCH: `bgapi originate` over the event socket, the agent first, then `&bridge`.

https://developer.signalwire.com/freeswitch/FreeSWITCH-Explained/Modules/mod_commands_1966741/#originate
`originate {vars}user/201 &bridge({vars}sofia/gateway/out/+31612345678)`: FreeSWITCH rings
the agent's leg and, once answered, bridges it to the callee. `bgapi` (mod_event_socket,
https://developer.signalwire.com/freeswitch/FreeSWITCH-Explained/Modules/mod_event_socket_1048924/#bgapi)
answers at once with a Job-UUID instead of holding the socket while the agent's phone rings.

The dial strings are templates from the connector's settings: `agent` (`{extension}`,
default user/{extension}) and `callee` (`{number}`, e.g. sofia/gateway/out/{number}).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from telephony_adapters.freeswitch_esl import EslFrame
from telephony_adapters.originate import (
    CallBack,
    NoAgentPhone,
    OriginateRefused,
    required,
)

PROVIDER = "freeswitch"
DEFAULT_AGENT = "user/{extension}"
_DIAL = r"[A-Za-z0-9_/@.:+=-]*"
RULES = {
    "agent": (_DIAL + r"\{extension\}" + _DIAL, "STAMGAST_ESL_ORIGINATE_AGENT, user/{extension}"),
    "callee": (
        _DIAL + r"\{number\}" + _DIAL,
        "STAMGAST_ESL_ORIGINATE_CALLEE, a dial string such as sofia/gateway/out/{number}",
    ),
}
_JOB = re.compile(r"\+OK Job-UUID: ([0-9A-Za-z-]{1,64})")


def check_credentials(credentials: Mapping[str, str]) -> list[str]:
    """The two dial string templates (the socket password is the connector's)."""
    return required(credentials, RULES)


def originate_command(call: CallBack, credentials: Mapping[str, str]) -> bytes:
    """The `bgapi originate` command: agent leg with our line's ID, bridged to the callee."""
    if call.agent.extension is None:
        raise NoAgentPhone("FreeSWITCH rings an agent at their extension; the agent has none")
    shown = f"origination_caller_id_number={call.caller_id}"
    agent = credentials["agent"].replace("{extension}", call.agent.extension)
    callee = credentials["callee"].replace("{number}", call.callee)
    agent_vars = f"{shown},originate_timeout={call.ring_seconds},stamgast_callback={call.reference}"
    command = f"bgapi originate {{{agent_vars}}}{agent} &bridge({{{shown}}}{callee})"
    if "\n" in command or "\r" in command:  # a second line would be a second command
        raise OriginateRefused("the originate command would span lines")
    return f"{command}\n\n".encode()


def job_id(reply: EslFrame) -> str:
    """The Job-UUID of an accepted `bgapi`; OriginateRefused with FreeSWITCH's reason."""
    text = reply.headers.get("Reply-Text", "")
    found = _JOB.match(text)
    if reply.content_type != "command/reply" or found is None:
        detail = text or reply.content_type or "no reply"
        raise OriginateRefused(f"FreeSWITCH refused the originate: {detail}")
    return found.group(1)
