"""Asterisk Manager Interface (AMI): the wire format, and calls from its channel events.

The wire: after the banner line (`Asterisk Call Manager/7.0.3`), messages of `Key: value`
lines ending in CRLF, a blank line ending each message. Events carry `Event:`, replies to
actions `Response:`. Pure: no sockets here (the app's connector owns the connection).

The calls (see `pbx_calls` for when each event goes out): a call is its `Linkedid`, the
Uniqueid of its first channel, whose `Newchannel` gives caller and called number.
`DialBegin` rings an extension (`DestCallerIDNum`, else `DestExten`, else the endpoint of
`DestChannel`); `DialEnd` with `DialStatus: ANSWER`, or another leg's `BridgeEnter`,
answers it; the first channel's `Hangup` ends it (MISSED for Q.850 causes 17/18/19/21 when
never answered by an agent; the Hangup's `person_answered` is whether one did). Legs
other than the first never ring or end the call: no duplicates. A call whose Newchannel
went by before we connected starts at its caller's next DialBegin (an extension rings
now: the card is still useful); one already dialled is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from telephony_adapters.base import CallEvent, NumberStyle, PayloadError, from_unix
from telephony_adapters.pbx_calls import (
    MISSED_CAUSES,
    CallBook,
    TrackedCall,
    dialled_extension,
    endpoint_of,
    first_plausible,
)

PROVIDER = "asterisk_ami"
# `CallerIDNum` and `Exten` are as the trunk or the phone sent them.
NUMBER_STYLE = NumberStyle.DIALLED
BANNER_PREFIX = "Asterisk Call Manager/"
# Real messages are a few hundred bytes; a line or message past these is not AMI.
MAX_LINE_BYTES = 16 * 1024
MAX_MESSAGE_FIELDS = 512

AmiMessage = dict[str, str]


class AmiProtocolError(ValueError):
    """The peer does not speak AMI (wrong banner, oversized line or message)."""


class AmiParser:
    """Splits the byte stream into messages; feed it whatever the socket returns."""

    def __init__(self) -> None:
        self.banner: str | None = None
        self._buffer = bytearray()
        self._current: AmiMessage = {}

    def feed(self, data: bytes) -> list[AmiMessage]:
        """The messages completed by `data` (a partial one waits for the next feed)."""
        self._buffer.extend(data)
        messages: list[AmiMessage] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise AmiProtocolError(f"line longer than {MAX_LINE_BYTES} bytes")
                return messages
            line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", errors="replace")
            del self._buffer[: end + 1]
            if self.banner is None:
                if not line.startswith(BANNER_PREFIX):
                    raise AmiProtocolError(f"not an Asterisk manager: greeted with {line[:80]!r}")
                self.banner = line
            elif not line:
                if self._current:
                    messages.append(self._current)
                    self._current = {}
            else:
                self._add(line)

    def _add(self, line: str) -> None:
        if len(self._current) >= MAX_MESSAGE_FIELDS:
            raise AmiProtocolError(f"message with more than {MAX_MESSAGE_FIELDS} fields")
        key, _sep, value = line.partition(":")
        # A repeated key (ChanVariable) keeps its last value: none we read repeats.
        self._current[key.strip()] = value.strip()


def format_action(action: str, fields: Mapping[str, str]) -> bytes:
    """One action on the wire; refuses line breaks, which would inject a second action."""
    lines = [f"Action: {action}", *(f"{key}: {value}" for key, value in fields.items())]
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("AMI action fields must not contain line breaks")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def login_action(username: str, secret: str, action_id: str = "stamgast-login") -> bytes:
    """`Action: Login` that also turns the event stream on."""
    return format_action(
        "Login", {"Username": username, "Secret": secret, "Events": "on", "ActionID": action_id}
    )


def timestamp_of(message: Mapping[str, str]) -> datetime | None:
    """The event's time when manager.conf has `timestampevents = yes`, else None."""
    try:
        return from_unix(float(message["Timestamp"]), "Timestamp")
    except (KeyError, ValueError, PayloadError):
        return None


def _cause(message: Mapping[str, str]) -> int | None:
    try:
        return int(message.get("Cause", ""))
    except ValueError:
        return None


class AmiCallTracker:
    """AMI events in, `CallEvent`s out; one per connection target, kept across reconnects."""

    def __init__(self, *, internal_max_digits: int = 6) -> None:
        self.book = CallBook(
            PROVIDER, internal_max_digits=internal_max_digits, number_style=NUMBER_STYLE
        )

    def feed(self, messages: Iterable[Mapping[str, str]]) -> list[CallEvent]:
        """Handle one batch of messages (as read together) and return the call events."""
        for message in messages:
            handler = _HANDLERS.get(message.get("Event", ""))
            if handler is not None:
                handler(self, message)
        return self.book.take()

    def _call_of(self, message: Mapping[str, str]) -> TrackedCall | None:
        return self.book.get(message.get("Linkedid") or message.get("DestLinkedid")) or (
            self.book.of_leg(message.get("Uniqueid"))
        )

    def _call_of_dial(self, message: Mapping[str, str]) -> TrackedCall | None:
        """The dial's call; a first leg starting to dial that we never saw created starts one."""
        call = self._call_of(message)
        uniqueid = message.get("Uniqueid", "")
        # Only a call's first channel (Linkedid = its own Uniqueid, or no Linkedid on
        # Asterisk before 12) is a caller; a Local half or agent leg dialling on is not.
        if call is None and uniqueid and message.get("Linkedid", uniqueid) == uniqueid:
            call = self.book.start(
                uniqueid,
                first_leg=uniqueid,
                caller=message.get("CallerIDNum", ""),
                caller_name=message.get("CallerIDName"),
                called=message.get("Exten", ""),
            )
        return call

    def _newchannel(self, message: Mapping[str, str]) -> None:
        uniqueid = message.get("Uniqueid", "")
        linkedid = message.get("Linkedid") or uniqueid
        if not uniqueid:
            return
        if uniqueid == linkedid:
            self.book.start(
                linkedid,
                first_leg=uniqueid,
                caller=message.get("CallerIDNum", ""),
                caller_name=message.get("CallerIDName"),
                called=message.get("Exten", ""),
            )
            return
        call = self.book.get(linkedid)
        if call is not None:
            self.book.add_leg(call, uniqueid, None)

    def _dial_begin(self, message: Mapping[str, str]) -> None:
        call = self._call_of_dial(message)
        if call is None:
            return
        if not call.called and message.get("Uniqueid") == call.first_leg:
            call.called = first_plausible(message.get("Exten")) or ""
        extension = _dest_extension(call, message)
        self.book.add_leg(call, message.get("DestUniqueid", ""), extension)
        self.book.ring(call, extension, timestamp_of(message))

    def _dial_end(self, message: Mapping[str, str]) -> None:
        call = self._call_of(message)
        if call is None or message.get("DialStatus", "").upper() != "ANSWER":
            return
        by = call.legs.get(message.get("DestUniqueid", "")) or _dest_extension(call, message)
        self.book.answer(call, by, timestamp_of(message), message)

    def _bridge_enter(self, message: Mapping[str, str]) -> None:
        call = self._call_of(message)
        uniqueid = message.get("Uniqueid", "")
        if call is None or not uniqueid or uniqueid == call.first_leg:
            return
        by = call.legs.get(uniqueid) or first_plausible(
            message.get("CallerIDNum"), endpoint_of(message.get("Channel"))
        )
        self.book.answer(call, by, timestamp_of(message), message)

    def _hangup(self, message: Mapping[str, str]) -> None:
        uniqueid = message.get("Uniqueid", "")
        call = self.book.of_leg(uniqueid)
        if call is None:
            return
        if uniqueid != call.first_leg:
            self.book.drop_leg(uniqueid)
            return
        missed = _cause(message) in MISSED_CAUSES
        self.book.finish(call, missed_cause=missed, at=timestamp_of(message), raw=message)


def _dest_extension(call: TrackedCall, message: Mapping[str, str]) -> str | None:
    # A dialled leg's own caller ID is the number it rings; one that repeats the caller's
    # number or the DID was copied from the caller's leg and names no extension.
    inherited = {call.caller, call.called}
    dest_number = message.get("DestCallerIDNum")
    dest_exten = message.get("DestExten")
    return first_plausible(
        None if dest_number in inherited else dest_number,
        None if dest_exten in inherited else dest_exten,
        endpoint_of(message.get("DestChannel")),
        dialled_extension(message.get("DialString")),
    )


_HANDLERS = {
    "Newchannel": AmiCallTracker._newchannel,
    "DialBegin": AmiCallTracker._dial_begin,
    "DialEnd": AmiCallTracker._dial_end,
    "BridgeEnter": AmiCallTracker._bridge_enter,
    "Hangup": AmiCallTracker._hangup,
}
