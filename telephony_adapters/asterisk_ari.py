"""Asterisk REST Interface (ARI) events: the WebSocket URL, and calls from its JSON events.

We connect to `ws://host:8088/ari/events?app=NAME&subscribeAll=true` with basic auth and
only listen. With `subscribeAll` Asterisk sends every channel's events to the app without
putting any call under its control; a dialplan that sends calls to `Stasis(NAME)` needs
something else to continue them. Pure: no sockets here.

The calls (see `pbx_calls` for when each event goes out): a call is its caller's channel
(or its `linkedid`, where Asterisk sends one). `StasisStart` starts one with
`caller.number` and `dialplan.exten` and rings at once: a Stasis app often answers,
plays a greeting or queues before it dials anyone, and the card must pop meanwhile. The
app answering the caller's own channel (`state` Up at `StasisStart`, or a
`ChannelStateChange` to Up, before any agent) is an ANSWERED with `by_application`. A
channel that is merely created may be a caller or
an agent's leg: ARI says which at its first `Dial`, as the `caller` (a call starts, with
the numbers from its creation) or as the `peer` (a leg). `Dial` rings its peer
(`dialstatus` ANSWER answers by it); `ChannelStateChange` to `Up` of an agent's leg
answers; so does another channel entering the caller's bridge (`ChannelEnteredBridge`:
an agent the app originated and bridged); `ChannelDestroyed` of the caller's channel ends
the call (MISSED for Q.850 causes 17/18/19/21 when never answered by an agent). Local
channel halves (`Local/201@queue-…;1` and `;2`) are legs of the call that dialled the
first half.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from telephony_adapters.base import CallEvent, NumberStyle, PayloadError, in_utc
from telephony_adapters.pbx_calls import (
    MAX_TRACKED_CALLS,
    MISSED_CAUSES,
    CallBook,
    TrackedCall,
    dialled_extension,
    endpoint_of,
    first_plausible,
)

PROVIDER = "asterisk_ari"
# `caller.number` and `dialplan.exten` are as the trunk or the phone sent them.
NUMBER_STYLE = NumberStyle.DIALLED

AriEvent = Mapping[str, Any]


class AriProtocolError(ValueError):
    """A WebSocket message that is not an ARI event (not a JSON object with a type)."""


def events_url(base_url: str, app: str, *, subscribe_all: bool = True) -> str:
    """The events WebSocket URL from the server's base URL (`ws://pbx:8088` or `…/ari`)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"ARI URL must start with ws://, wss://, http:// or https://: {base_url}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    query = {"app": app, **({"subscribeAll": "true"} if subscribe_all else {})}
    return urlunsplit((scheme, parts.netloc, f"{path}/events", urlencode(query), ""))


def parse_event(text: str | bytes) -> dict[str, Any]:
    """One WebSocket message as an event; raises AriProtocolError."""
    try:
        event = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AriProtocolError(f"ARI message is not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise AriProtocolError("ARI message is not an event object with a 'type'")
    return event


def timestamp_of(event: AriEvent) -> datetime | None:
    """The event's `timestamp` (`2024-05-01T10:00:00.123+0200`), or None."""
    value = event.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        in_utc(parsed, "timestamp")  # out of range (year 9999) is as useless as unreadable
    except (ValueError, PayloadError):
        return None
    return parsed


def _text(obj: Any, *path: str) -> str:
    """The string at `path` in nested JSON objects, "" when absent or not a string."""
    for key in path:
        if not isinstance(obj, Mapping):
            return ""
        obj = obj.get(key)
    return obj if isinstance(obj, str) else ""


def _raw(event: AriEvent) -> dict[str, str]:
    """The few fields worth keeping with the CallEvent (ARI events nest; CallEvent.raw is flat)."""
    raw = {"type": _text(event, "type"), "timestamp": _text(event, "timestamp")}
    for part in ("channel", "peer", "bridge"):
        if isinstance(event.get(part), Mapping):
            raw[f"{part}.id"] = _text(event, part, "id")
            raw[f"{part}.name"] = _text(event, part, "name")
    for key in ("dialstatus", "cause_txt"):
        if key in event:
            raw[key] = str(event[key])
    return raw


class AriCallTracker:
    """ARI events in, `CallEvent`s out; kept across reconnects of one connection target."""

    def __init__(self, *, internal_max_digits: int = 6) -> None:
        self.book = CallBook(
            PROVIDER, internal_max_digits=internal_max_digits, number_style=NUMBER_STYLE
        )
        # Channels created but not yet placed. ARI channels carry no linkedid, so whether a
        # new channel is a caller or an agent's leg shows only at its first Dial.
        self._created: OrderedDict[str, Any] = OrderedDict()

    def feed(self, events: Iterable[AriEvent]) -> list[CallEvent]:
        """Handle one batch of events (as received together) and return the call events."""
        for event in events:
            handler = _HANDLERS.get(_text(event, "type"))
            if handler is not None:
                handler(self, event)
        return self.book.take()

    def _stasis_start(self, event: AriEvent) -> None:
        channel = event.get("channel")
        channel_id = _text(channel, "id")
        if not channel_id or self.book.of_leg(channel_id) is not None:
            return
        self._created.pop(channel_id, None)
        linked = self.book.get(_text(channel, "linkedid") or None) or self._placed_by_app(channel)
        if linked is not None:  # an agent's channel of a call we track
            self.book.add_leg(linked, channel_id, _leg_extension(linked, channel, ""))
            return
        call = self._start(channel)
        if call is None:
            return
        at = timestamp_of(event)
        self.book.ring(call, None, at)
        if _text(channel, "state") == "Up":  # answered before it entered the app
            self.book.answer_by_application(call, at, _raw(event))

    def _placed_by_app(self, channel: Any) -> TrackedCall | None:
        """The call an answered channel entering the app belongs to, if it is an agent's leg.

        A channel the app originated enters Stasis once it is answered (state Up), and the
        app often gives it the caller's number as caller ID so the agent's phone shows it.
        An inbound channel arrives ringing (Ring), unless the dialplan answered it first.
        """
        if _text(channel, "state") != "Up":
            return None
        number = _text(channel, "caller", "number")
        for call in self.book.calls():
            if number and number == call.caller:
                return call
        return None

    def _channel_created(self, event: AriEvent) -> None:
        channel = event.get("channel")
        channel_id, linkedid = _text(channel, "id"), _text(channel, "linkedid")
        if not channel_id or self.book.of_leg(channel_id) is not None:
            return
        if not linkedid:
            self._created[channel_id] = channel
            if len(self._created) > MAX_TRACKED_CALLS:
                self._created.popitem(last=False)
        elif linkedid == channel_id:
            self._start(channel)
        elif (linked := self.book.get(linkedid)) is not None:
            self.book.add_leg(linked, channel_id, _leg_extension(linked, channel, ""))

    def _start(self, channel: Any) -> TrackedCall | None:
        if _local_key(channel) is not None:
            return None  # a Local channel half is some call's leg, never a caller
        channel_id = _text(channel, "id")
        return self.book.start(
            _text(channel, "linkedid") or channel_id,
            first_leg=channel_id,
            caller=_text(channel, "caller", "number"),
            caller_name=_text(channel, "caller", "name"),
            called=_text(channel, "dialplan", "exten"),
        )

    def _call_of_dial(self, caller: Any, peer: Any) -> TrackedCall | None:
        caller_id = _text(caller, "id")
        call = (
            self.book.of_leg(caller_id)
            or self.book.of_leg(_local_key(caller))
            or self.book.get(_text(caller, "linkedid") or None)
            or self.book.of_leg(_text(peer, "id"))
        )
        if call is None and caller_id:
            # The first Dial of a channel nobody dialled: it is a call's caller. Its snapshot
            # from creation names the number it called, before the dialplan moved on.
            created = self._created.pop(caller_id, None)
            call = self._start(created if created is not None else caller)
        return call

    def _dial(self, event: AriEvent) -> None:
        caller, peer = event.get("caller"), event.get("peer")
        peer_id = _text(peer, "id")
        if not peer_id:
            return
        self._created.pop(peer_id, None)  # a dialled channel is a leg, never a call
        call = self._call_of_dial(caller, peer)
        if call is None:
            return
        extension = call.legs.get(peer_id) or _leg_extension(call, peer, _text(event, "dialstring"))
        self.book.add_leg(call, peer_id, extension)
        if (local := _local_key(peer)) is not None:  # its other half dials on for this call
            self.book.add_leg(call, local, extension)
        status = _text(event, "dialstatus").upper()
        if status == "":
            self.book.ring(call, extension, timestamp_of(event))
        elif status == "ANSWER":
            self.book.answer(call, extension, timestamp_of(event), _raw(event))

    def _state_change(self, event: AriEvent) -> None:
        channel = event.get("channel")
        channel_id = _text(channel, "id")
        call = self.book.of_leg(channel_id)
        if call is None or _text(channel, "state") != "Up":
            return
        if channel_id == call.first_leg:
            # The caller's own channel goes Up when the app (or an IVR) answers it; an
            # agent answering shows on the agent's channel, reported below or by Dial.
            self.book.answer_by_application(call, timestamp_of(event), _raw(event))
            return
        extension = call.legs.get(channel_id) or _leg_extension(call, channel, "")
        self.book.answer(call, extension, timestamp_of(event), _raw(event))

    def _entered_bridge(self, event: AriEvent) -> None:
        """A second channel in the caller's bridge is an agent talking with the caller."""
        channel = event.get("channel")
        channel_id = _text(channel, "id")
        bridge = event.get("bridge")
        members = bridge.get("channels") if isinstance(bridge, Mapping) else None
        if not channel_id or not isinstance(members, list):
            return
        ids = [member for member in members if isinstance(member, str)]
        call = self.book.of_leg(channel_id) or next(
            (found for i in ids if (found := self.book.of_leg(i)) is not None), None
        )
        if call is None or call.first_leg not in ids:
            return  # the caller is not in this bridge (yet): a holding or agent-only bridge
        agents = [i for i in ids if i != call.first_leg]
        if not agents:
            return  # the caller alone, waiting
        agent_id = channel_id if channel_id != call.first_leg else agents[0]
        extension = call.legs.get(agent_id)
        if extension is None and agent_id == channel_id:
            extension = _leg_extension(call, channel, "")
        self.book.add_leg(call, agent_id, extension)
        self.book.answer(call, call.legs.get(agent_id), timestamp_of(event), _raw(event))

    def _destroyed(self, event: AriEvent) -> None:
        channel_id = _text(event.get("channel"), "id")
        self._created.pop(channel_id, None)
        call = self.book.of_leg(channel_id)
        if call is None:
            return
        if channel_id != call.first_leg:
            self.book.drop_leg(channel_id)
            return
        cause = event.get("cause")
        missed = isinstance(cause, int) and cause in MISSED_CAUSES
        self.book.finish(call, missed_cause=missed, at=timestamp_of(event), raw=_raw(event))


def _local_key(channel: Any) -> str | None:
    """Both halves of a Local channel ('Local/201@queue-00000001;1' and ';2') share this key."""
    name = _text(channel, "name")
    return "local:" + name.rsplit(";", 1)[0] if name.startswith("Local/") else None


def _leg_extension(call: TrackedCall, channel: Any, dialstring: str) -> str | None:
    """The extension an agent's channel reaches: its own caller ID, the dial string, its name."""
    number = _text(channel, "caller", "number")
    return first_plausible(
        None if number in (call.caller, call.called) else number,
        dialled_extension(dialstring),
        endpoint_of(_text(channel, "name")),
    )


_HANDLERS = {
    "StasisStart": AriCallTracker._stasis_start,
    "ChannelCreated": AriCallTracker._channel_created,
    "Dial": AriCallTracker._dial,
    "ChannelStateChange": AriCallTracker._state_change,
    "ChannelEnteredBridge": AriCallTracker._entered_bridge,
    "ChannelDestroyed": AriCallTracker._destroyed,
}
