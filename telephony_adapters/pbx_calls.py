"""What the PBX event streams (Asterisk AMI and ARI, FreeSWITCH ESL) share: calls from legs.

A PBX reports channels (legs), not calls. Each protocol's tracker (`asterisk_ami`,
`asterisk_ari`, `freeswitch_esl`) groups legs into calls and reports them through a
`CallBook`, which decides when each `CallEvent` goes out:

- RINGING when the call first rings an extension (a Dial), naming that extension, so the
  card pops on the phone that rings. The lifecycle records one RINGING per call, so it
  waits for the Dial rather than going out bare at the call's first channel. Extensions
  rung in the same batch (a ring group, a ring-all queue) go out as one RINGING without an
  extension: the app then pops the line's team. A call answered or hung up before any Dial
  (an IVR hang-up) reports its RINGING just before that.
- ANSWERED once, when an agent leg answers (never the caller's own leg: an IVR answers it).
  Where the protocol shows an application taking the call first (an ARI Stasis app
  answering the caller's channel), one ANSWERED with `by_application=True` goes out
  before, and the call still waits for a person.
- ENDED or MISSED when the caller's leg hangs up; MISSED for an unanswered call whose
  cause says so (busy, no answer, rejected); the app turns any unanswered ENDED into missed.
  The final event's `person_answered` says whether an agent leg answered: the tracker
  followed the call from its start, or the hangup's own data says so (FreeSWITCH).

Calls placed from an internal extension (caller ID of at most `internal_max_digits`
digits) are not reported: the lifecycle models inbound calls, and an agent's unanswered
outgoing call would become a "missed call" callback request.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from telephony_adapters.base import CallEvent, Direction, EventKind, NumberStyle

# Calls whose end we never see (a lost connection) must not grow memory without limit.
MAX_TRACKED_CALLS = 10_000
# Q.850 causes that mean "nobody picked up": busy, no user responding, no answer, rejected.
MISSED_CAUSES = frozenset({17, 18, 19, 21})
# Values PBXes put where they have no number or extension.
_PLACEHOLDERS = frozenset({"", "s", "<unknown>", "unknown", "anonymous", "(null)"})
# Asterisk names channels "<tech>/<resource>-<8 hex digit sequence>".
_CHANNEL_SEQUENCE = re.compile(r"(.+)-[0-9a-f]{8}")


def plausible(value: str | None) -> str | None:
    """The value, stripped, unless it is a PBX placeholder for "none"."""
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in _PLACEHOLDERS else value


def first_plausible(*values: str | None) -> str | None:
    """The first value that is not a placeholder."""
    for value in values:
        found = plausible(value)
        if found is not None:
            return found
    return None


def endpoint_of(channel: str | None) -> str | None:
    """The endpoint in a channel name: 'PJSIP/201-0000001a', 'Local/201@ctx-00000001;1' → '201'."""
    if not channel or "/" not in channel:
        return None
    resource = channel.rsplit("/", 1)[1].split("@", 1)[0].split(";", 1)[0]
    matched = _CHANNEL_SEQUENCE.fullmatch(resource)
    return plausible(matched.group(1) if matched else resource)


def dialled_extension(dialstring: str | None) -> str | None:
    """The extension in a dial string: '201', 'PJSIP/201', '201@from-queue/n' → '201'."""
    if not dialstring or "&" in dialstring:
        return None
    return plausible(dialstring.split("@", 1)[0].rsplit("/", 1)[-1])


@dataclass(slots=True)
class TrackedCall:
    """One call in progress, as far as its events have told."""

    call_id: str
    first_leg: str
    caller: str
    caller_name: str | None
    called: str
    legs: dict[str, str | None] = field(default_factory=dict)  # leg id → its extension
    rung: list[str] = field(default_factory=list)
    rang_at: datetime | None = None
    ring_reported: bool = False
    answered: bool = False  # by a person (an agent leg)
    app_answered: bool = False  # by an application on the caller's own channel


class CallBook:
    """The calls in progress and the events they produced; bounded, oldest forgotten first."""

    def __init__(
        self,
        provider: str,
        *,
        internal_max_digits: int = 6,
        max_calls: int = MAX_TRACKED_CALLS,
        number_style: NumberStyle = NumberStyle.DIALLED,
    ) -> None:
        self.provider = provider
        self.number_style = number_style
        self._internal_max_digits = internal_max_digits
        self._max_calls = max_calls
        self._calls: OrderedDict[str, TrackedCall] = OrderedDict()
        self._leg_calls: dict[str, str] = {}
        self._ring_pending: dict[str, None] = {}  # call ids, in the order they rang
        self._out: list[CallEvent] = []

    def __len__(self) -> int:
        return len(self._calls)

    def is_internal(self, number: str) -> bool:
        """True for an extension's caller ID (short, digits only)."""
        number = number.strip()
        return number.isdigit() and len(number) <= self._internal_max_digits

    def start(
        self, call_id: str, *, first_leg: str, caller: str, caller_name: str | None, called: str
    ) -> TrackedCall | None:
        """Track a new call from its caller's leg; None when ignored (internal, or known)."""
        if call_id in self._calls or first_leg in self._leg_calls:
            return None
        caller = plausible(caller) or ""
        if self.is_internal(caller):
            return None
        call = TrackedCall(
            call_id=call_id,
            first_leg=first_leg,
            caller=caller,
            caller_name=plausible(caller_name),
            called=plausible(called) or "",
        )
        self._calls[call_id] = call
        self._leg_calls[first_leg] = call_id
        while len(self._calls) > self._max_calls:
            _oldest, forgotten = self._calls.popitem(last=False)
            self._forget_legs(forgotten)
        return call

    def calls(self) -> list[TrackedCall]:
        """The calls in progress, oldest first."""
        return list(self._calls.values())

    def get(self, call_id: str | None) -> TrackedCall | None:
        """The call with this id, if tracked."""
        return None if call_id is None else self._calls.get(call_id)

    def of_leg(self, leg_id: str | None) -> TrackedCall | None:
        """The call this leg belongs to, if tracked."""
        if leg_id is None:
            return None
        return self.get(self._leg_calls.get(leg_id))

    def add_leg(self, call: TrackedCall, leg_id: str, extension: str | None) -> None:
        """Remember a leg of the call and the extension it reaches (kept if already known)."""
        if leg_id == call.first_leg:
            return
        call.legs[leg_id] = call.legs.get(leg_id) or plausible(extension)
        self._leg_calls[leg_id] = call.call_id

    def drop_leg(self, leg_id: str) -> None:
        """A leg other than the caller's hung up: forget it."""
        call = self.of_leg(leg_id)
        if call is not None and leg_id != call.first_leg:
            self._leg_calls.pop(leg_id, None)

    def ring(self, call: TrackedCall, extension: str | None, at: datetime | None) -> None:
        """An extension rings for the call; reported by `take()` (see the module docstring)."""
        if call.ring_reported:
            return
        extension = plausible(extension)
        if extension is not None and extension not in call.rung:
            call.rung.append(extension)
        call.rang_at = call.rang_at or at
        self._ring_pending[call.call_id] = None

    def answer(
        self, call: TrackedCall, by: str | None, at: datetime | None, raw: Mapping[str, str]
    ) -> None:
        """An agent leg answered the call (reported once)."""
        if call.answered:
            return
        self._report_ringing(call, at)
        call.answered = True
        self._emit(call, EventKind.ANSWERED, at, raw, answered_by=plausible(by))

    def answer_by_application(
        self, call: TrackedCall, at: datetime | None, raw: Mapping[str, str]
    ) -> None:
        """An application answered the caller's own channel (reported once, before any agent)."""
        if call.app_answered or call.answered:
            return
        self._report_ringing(call, at)
        call.app_answered = True
        self._emit(call, EventKind.ANSWERED, at, raw, by_application=True)

    def finish(
        self,
        call: TrackedCall,
        *,
        missed_cause: bool,
        at: datetime | None,
        raw: Mapping[str, str],
        person_answered: bool | None = None,
    ) -> None:
        """The caller's leg hung up: the call is over and forgotten.

        `person_answered` is what the hangup's own data says (None: it does not say); an
        agent leg seen answering counts too.
        """
        self._report_ringing(call, at)
        answered = call.answered or bool(person_answered)
        kind = EventKind.MISSED if missed_cause and not answered else EventKind.ENDED
        self._emit(call, kind, at, raw, person_answered=answered)
        self._calls.pop(call.call_id, None)
        self._forget_legs(call)

    def take(self) -> list[CallEvent]:
        """The events decided so far, with rings pending since the last take reported."""
        for call_id in self._ring_pending:
            call = self._calls.get(call_id)
            if call is not None:
                self._report_ringing(call, call.rang_at)
        self._ring_pending.clear()
        events, self._out = self._out, []
        return events

    def _report_ringing(self, call: TrackedCall, at: datetime | None) -> None:
        if call.ring_reported:
            return
        call.ring_reported = True
        extension = call.rung[0] if len(call.rung) == 1 else None
        self._emit(call, EventKind.RINGING, call.rang_at or at, {}, ringing_extension=extension)

    def _emit(
        self,
        call: TrackedCall,
        kind: EventKind,
        at: datetime | None,
        raw: Mapping[str, str],
        *,
        ringing_extension: str | None = None,
        answered_by: str | None = None,
        by_application: bool = False,
        person_answered: bool | None = None,
    ) -> None:
        self._out.append(
            CallEvent(
                provider=self.provider,
                call_id=call.call_id,
                kind=kind,
                from_raw=call.caller,
                to_raw=call.called,
                direction=Direction.INBOUND,
                ringing_extension=ringing_extension,
                answered_by=answered_by,
                caller_name=call.caller_name,
                occurred_at=at,
                number_style=self.number_style,
                by_application=by_application,
                person_answered=person_answered,
                raw=dict(raw),
            )
        )

    def _forget_legs(self, call: TrackedCall) -> None:
        for leg_id in (call.first_leg, *call.legs):
            if self._leg_calls.get(leg_id) == call.call_id:
                del self._leg_calls[leg_id]
