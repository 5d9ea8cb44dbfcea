"""Asterisk REST Interface (ARI) events: the WebSocket URL, and calls from its JSON events.

We connect to `ws://host:8088/ari/events?app=NAME&subscribeAll=true` with basic auth and
only listen. With `subscribeAll` Asterisk sends every channel's events to the app without
putting any call under its control; a dialplan that sends calls to `Stasis(NAME)` needs
something else to continue them. Pure: no sockets here.

The calls (see `pbx_calls` for when each event goes out): a call is its caller's channel
(or its `linkedid`, where Asterisk sends one). `StasisStart` starts one with
`caller.number` and `dialplan.exten`. A channel that is merely created may be a caller or
an agent's leg: ARI says which at its first `Dial`, as the `caller` (a call starts, with
the numbers from its creation) or as the `peer` (a leg). `Dial` rings its peer
(`dialstatus` ANSWER answers by it); `ChannelStateChange` to `Up` of an agent's leg
answers; `ChannelDestroyed` of the caller's channel ends the call (MISSED for Q.850 causes
17/18/19/21 when never answered). Local channel halves (`Local/201@queue-…;1` and `;2`)
are legs of the call that dialled the first half.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from telephony_adapters.base import CallEvent
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
        return datetime.fromisoformat(value)
    except ValueError:
        return None


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
    for part in ("channel", "peer"):
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
        self.book = CallBook(PROVIDER, internal_max_digits=internal_max_digits)
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
        linked = self.book.get(_text(channel, "linkedid") or None)
        if linked is not None:  # an agent's channel of a call we track
            self.book.add_leg(linked, channel_id, _leg_extension(linked, channel, ""))
        else:
            self._start(channel)

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
        if call is None or channel_id == call.first_leg or _text(channel, "state") != "Up":
            return  # the caller's own channel goes Up when an IVR answers: not an agent
        extension = call.legs.get(channel_id) or _leg_extension(call, channel, "")
        self.book.answer(call, extension, timestamp_of(event), _raw(event))

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
    "ChannelDestroyed": AriCallTracker._destroyed,
}
