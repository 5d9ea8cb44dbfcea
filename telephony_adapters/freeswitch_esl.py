"""FreeSWITCH event socket (ESL, inbound mode): the wire format, and calls from its events.

The wire: frames of `Key: value` header lines ending in a blank line; a `Content-Length`
header announces a body of that many bytes. `auth/request` asks for `auth PASSWORD`,
`command/reply` answers commands (`Reply-Text: +OK …` / `-ERR …`), `text/event-plain`
carries one event as a body of URL-encoded `Key: value` lines. Pure: no sockets here.

The calls (see `pbx_calls` for when each event goes out): a call is its
`Channel-Call-UUID`, which every leg of it carries. The A-leg (its own `Unique-ID`, not
`Call-Direction: outbound`) starts it on CHANNEL_CREATE; another leg's CHANNEL_CREATE
rings its extension (`Caller-Callee-ID-Number`, else `Caller-Destination-Number`); that
leg's CHANNEL_ANSWER, or the A-leg's CHANNEL_BRIDGE to it (`Other-Leg-…`), answers; the
A-leg's CHANNEL_HANGUP_COMPLETE ends it (MISSED for USER_BUSY, NO_USER_RESPONSE,
NO_ANSWER, CALL_REJECTED or ORIGINATOR_CANCEL when never answered). That hangup carries
the call's times, so `person_answered` comes from it even when the answer event was lost
(see `hangup_person_answered`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

from telephony_adapters.base import CallEvent, NumberStyle, PayloadError, from_unix, parse_count
from telephony_adapters.pbx_calls import CallBook, TrackedCall, endpoint_of, first_plausible

PROVIDER = "freeswitch"
# `Caller-Caller-ID-Number` and `Caller-Destination-Number` are as the gateway or phone
# sent them (URL-decoded by the parser): a PBX's dialled form.
NUMBER_STYLE = NumberStyle.DIALLED
EVENTS = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE")
SUBSCRIBE = f"event plain {' '.join(EVENTS)}\n\n".encode()
# Channel events are a few kB; a header block or body past these is not ESL.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MISSED_HANGUP_CAUSES = frozenset(
    {"USER_BUSY", "NO_USER_RESPONSE", "NO_ANSWER", "CALL_REJECTED", "ORIGINATOR_CANCEL"}
)

EslEvent = dict[str, str]


class EslProtocolError(ValueError):
    """The peer does not speak ESL (oversized frame, bad Content-Length)."""


@dataclass(frozen=True, slots=True)
class EslFrame:
    """One frame: its (URL-decoded) headers and raw body."""

    headers: dict[str, str]
    body: bytes = field(default=b"")

    @property
    def content_type(self) -> str:
        """The frame's Content-Type ("" when absent)."""
        return self.headers.get("Content-Type", "")

    @property
    def reply_ok(self) -> bool:
        """True for a command reply that says `+OK`."""
        return self.headers.get("Reply-Text", "").startswith("+OK")


def parse_headers(block: bytes) -> dict[str, str]:
    """`Key: value` lines, values URL-decoded (FreeSWITCH encodes them in event bodies)."""
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.rstrip("\r").partition(":")
        if sep:
            headers[key.strip()] = unquote(value.strip())
    return headers


def parse_event_plain(body: bytes) -> EslEvent:
    """A `text/event-plain` body as a flat event; an event's own body goes to `_body`."""
    head, sep, rest = body.partition(b"\n\n")
    event = parse_headers(head)
    if sep and rest.strip() and "Content-Length" in event:
        event["_body"] = rest.decode("utf-8", errors="replace")
    return event


class EslParser:
    """Splits the byte stream into frames; feed it whatever the socket returns."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._headers: dict[str, str] | None = None
        self._length = 0

    def feed(self, data: bytes) -> list[EslFrame]:
        """The frames completed by `data` (a partial one waits for the next feed)."""
        self._buffer.extend(data)
        frames: list[EslFrame] = []
        while True:
            if self._headers is None:
                end = self._buffer.find(b"\n\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise EslProtocolError(f"header block over {MAX_HEADER_BYTES} bytes")
                    return frames
                block = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                if not block.strip():
                    continue  # stray blank lines between frames
                self._headers = parse_headers(block)
                self._length = _content_length(self._headers)
            if len(self._buffer) < self._length:
                return frames
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            frames.append(EslFrame(self._headers, body))
            self._headers = None


def _content_length(headers: Mapping[str, str]) -> int:
    value = headers.get("Content-Length", "0").strip() or "0"
    length = parse_count(value, max_digits=9)
    if length is None or length > MAX_BODY_BYTES:
        raise EslProtocolError(f"bad Content-Length {value[:20]!r}")
    return length


def auth_command(password: str) -> bytes:
    """`auth PASSWORD`; refuses line breaks, which would inject a second command."""
    if "\n" in password or "\r" in password:
        raise ValueError("the ESL password must not contain line breaks")
    return f"auth {password}\n\n".encode()


def timestamp_of(event: Mapping[str, str]) -> datetime | None:
    """`Event-Date-Timestamp` (microseconds since the epoch), or None."""
    micros = parse_count(event.get("Event-Date-Timestamp"), max_digits=18)
    try:
        return None if micros is None else from_unix(micros / 1_000_000, "Event-Date-Timestamp")
    except PayloadError:
        return None


def _microseconds(event: Mapping[str, str], header: str) -> int | None:
    """A `…-Time` header (µs since the epoch, "0" when it never happened), or None."""
    value = event.get(header, "").strip()
    return parse_count(value, max_digits=18)


def hangup_person_answered(event: Mapping[str, str]) -> bool | None:
    """Whether a person answered, from the A-leg's CHANNEL_HANGUP_COMPLETE; None if it cannot tell.

    `Caller-Channel-Answered-Time` alone proves nothing: FreeSWITCH answers the A-leg
    itself for an IVR, voicemail or queue music. A person answered when the A-leg was
    bridged to another leg (`Caller-Channel-Bridged-Time`) or the other leg answered
    (`Other-Leg-Channel-Answered-Time`); every caller profile since FreeSWITCH 1.4 carries
    the bridged time, so with it present and both zero nobody did (an IVR or voicemail
    answer stays False). An event without it (older FreeSWITCH, a filtered event) falls
    back to the A-leg's own answer with `variable_billsec` > 0, and to False only when
    neither answer time nor billed seconds show anything.
    """
    bridged = _microseconds(event, "Caller-Channel-Bridged-Time")
    other_answered = _microseconds(event, "Other-Leg-Channel-Answered-Time")
    if bridged or other_answered:
        return True
    if bridged is not None:
        return False
    answered = _microseconds(event, "Caller-Channel-Answered-Time")
    billsec = event.get("variable_billsec", "").strip()
    billed = parse_count(billsec)
    if answered and billed:
        return True
    if answered == 0 and not billed:
        return False
    return None


class EslCallTracker:
    """ESL channel events in, `CallEvent`s out; kept across reconnects of one target."""

    def __init__(self, *, internal_max_digits: int = 6) -> None:
        self.book = CallBook(
            PROVIDER, internal_max_digits=internal_max_digits, number_style=NUMBER_STYLE
        )

    def feed(self, events: Iterable[Mapping[str, str]]) -> list[CallEvent]:
        """Handle one batch of events (as read together) and return the call events."""
        for event in events:
            handler = _HANDLERS.get(event.get("Event-Name", ""))
            if handler is not None:
                handler(self, event)
        return self.book.take()

    def _create(self, event: Mapping[str, str]) -> None:
        leg = event.get("Unique-ID", "")
        call_uuid = event.get("Channel-Call-UUID") or leg
        if not leg or self.book.of_leg(leg) is not None:
            return
        outbound = event.get("Call-Direction", "").lower() == "outbound"
        if leg == call_uuid and not outbound:
            self.book.start(
                call_uuid,
                first_leg=leg,
                caller=event.get("Caller-Caller-ID-Number", ""),
                caller_name=event.get("Caller-Caller-ID-Name"),
                called=event.get("Caller-Destination-Number", ""),
            )
            return
        call = self.book.get(call_uuid) or self.book.of_leg(event.get("Other-Leg-Unique-ID"))
        if call is None:
            return
        extension = _leg_extension(call, event, "Caller")
        self.book.add_leg(call, leg, extension)
        self.book.ring(call, extension, timestamp_of(event))

    def _answer(self, event: Mapping[str, str]) -> None:
        leg = event.get("Unique-ID", "")
        call = self.book.of_leg(leg)
        if call is None or leg == call.first_leg:
            return  # the A-leg is answered by an IVR as well as by a bridge
        by = call.legs.get(leg) or _leg_extension(call, event, "Caller")
        self.book.answer(call, by, timestamp_of(event), event)

    def _bridge(self, event: Mapping[str, str]) -> None:
        leg, other = event.get("Unique-ID", ""), event.get("Other-Leg-Unique-ID", "")
        call = self.book.of_leg(leg)
        if call is None:
            return
        if leg == call.first_leg:
            by = call.legs.get(other) or _leg_extension(call, event, "Other-Leg")
        else:
            by = call.legs.get(leg) or _leg_extension(call, event, "Caller")
        self.book.answer(call, by, timestamp_of(event), event)

    def _hangup_complete(self, event: Mapping[str, str]) -> None:
        leg = event.get("Unique-ID", "")
        call = self.book.of_leg(leg)
        if call is None:
            return
        if leg != call.first_leg:
            self.book.drop_leg(leg)
            return
        missed = event.get("Hangup-Cause", "").upper() in MISSED_HANGUP_CAUSES
        self.book.finish(
            call,
            missed_cause=missed,
            at=timestamp_of(event),
            raw=event,
            person_answered=hangup_person_answered(event),
        )


def _leg_extension(call: TrackedCall, event: Mapping[str, str], prefix: str) -> str | None:
    """The extension a leg reaches, from its `Caller-…` or the A-leg's `Other-Leg-…` fields."""
    inherited = {call.caller, call.called}
    callee = event.get(f"{prefix}-Callee-ID-Number")
    destination = event.get(f"{prefix}-Destination-Number")
    return first_plausible(
        *(None if value in inherited else value for value in (callee, destination)),
        endpoint_of(event.get(f"{prefix}-Channel-Name")),
    )


_HANDLERS = {
    "CHANNEL_CREATE": EslCallTracker._create,
    "CHANNEL_ANSWER": EslCallTracker._answer,
    "CHANNEL_BRIDGE": EslCallTracker._bridge,
    "CHANNEL_HANGUP_COMPLETE": EslCallTracker._hangup_complete,
}
