"""The call state machine: which state a call is in after each event, and what follows.

Pure: no database, no clock. The lifecycle asks `advance` what an event means for a call and
carries out the answer (record the answer, write the interaction, open or withdraw a callback,
pop the card).

States::

    ringing ──person answers──▶ answered ──final event──▶ ended
       │  (an application answering — IVR, queue, bot — keeps the call ringing: it still
       │   waits for a person)
       └──final event, no person answered──▶ missed | voicemail   (inbound)
                                          └─▶ ended               (outbound, internal)

A call is missed only when it came in and no person answered it. The final state depends on
which events arrived, not on their order: a person's answer that arrives after the hangup
turns a missed call into an ended one (`Step.revised`), and duplicates change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from telephony_adapters.base import Direction, EventKind

PopKind = Literal["call.ringing", "call.answered", "call.ended", "call.missed", "call.voicemail"]


class CallState(StrEnum):
    """Where a call stands; stored in `calls.state`."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    MISSED = "missed"
    VOICEMAIL = "voicemail"


FINAL = frozenset({CallState.ENDED, CallState.MISSED, CallState.VOICEMAIL})
_POP_OF_FINAL: dict[CallState, PopKind] = {
    CallState.ENDED: "call.ended",
    CallState.MISSED: "call.missed",
    CallState.VOICEMAIL: "call.voicemail",
}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What is known of a call before the event."""

    state: CallState
    direction: Direction
    person_answered: bool  # a person took the call (an application answering does not count)


@dataclass(frozen=True, slots=True)
class Signal:
    """The parts of a vendor event the state machine reads."""

    kind: EventKind
    by_application: bool = False
    person_answered: bool | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """What an event does to a call."""

    state: CallState
    person_answered: bool
    pop: PopKind | None = None
    answered_now: bool = False  # record who answered and when
    finished_now: bool = False  # the call just ended: write its interaction
    open_callback: bool = False  # a missed inbound call: the caller gets a callback request
    # The call had finished and its outcome changed (a late answer, a voicemail after all):
    # rewrite its interaction; withdraw its callback request when it is no longer missed.
    revised: bool = False


def advance(facts: CallFacts, signal: Signal) -> Step:
    """The call's next state for one (first-delivered) event."""
    answered = facts.person_answered
    if signal.kind is EventKind.RINGING:
        pop: PopKind | None = "call.ringing" if facts.state is CallState.RINGING else None
        return Step(facts.state, answered, pop=pop)
    if signal.kind is EventKind.ANSWERED:
        if signal.by_application:
            return Step(facts.state, answered)
        return _person_answered(facts)
    return _finish(facts, signal)


def _person_answered(facts: CallFacts) -> Step:
    if facts.state is CallState.RINGING or facts.state is CallState.ANSWERED:
        return Step(CallState.ANSWERED, True, pop="call.answered", answered_now=True)
    if facts.person_answered:
        return Step(facts.state, True)
    # The answer arrived after the hangup (vendors deliver out of order): it still happened.
    return Step(CallState.ENDED, True, pop="call.ended", answered_now=True, revised=True)


def _finish(facts: CallFacts, signal: Signal) -> Step:
    if facts.state in FINAL:
        if signal.person_answered and not facts.person_answered:
            return _person_answered(facts)
        if facts.state is CallState.MISSED and signal.kind is EventKind.VOICEMAIL:
            # Two final events (hangup, then the voicemail report): the caller left a message.
            return Step(CallState.VOICEMAIL, False, pop="call.voicemail", revised=True)
        return Step(facts.state, facts.person_answered)
    answered = facts.person_answered or bool(signal.person_answered)
    if answered:
        state = CallState.ENDED
    elif facts.direction is not Direction.INBOUND:
        # Nobody picked up the number we dialled: that is not a call we missed.
        state = CallState.ENDED
    elif signal.kind is EventKind.VOICEMAIL:
        state = CallState.VOICEMAIL
    else:
        state = CallState.MISSED
    return Step(
        state,
        answered,
        pop=_POP_OF_FINAL[state],
        answered_now=answered and not facts.person_answered,
        finished_now=True,
        open_callback=state in (CallState.MISSED, CallState.VOICEMAIL),
    )


def final_state(direction: Direction, signals: list[Signal]) -> CallState:
    """The state the set of events leads to, whatever their order (what the tests check)."""
    person = any(
        (s.kind is EventKind.ANSWERED and not s.by_application) or bool(s.person_answered)
        for s in signals
    )
    finals = [s for s in signals if s.kind not in (EventKind.RINGING, EventKind.ANSWERED)]
    if person:
        return CallState.ENDED if finals else CallState.ANSWERED
    if not finals:
        return CallState.RINGING
    if direction is not Direction.INBOUND:
        return CallState.ENDED
    if any(s.kind is EventKind.VOICEMAIL for s in finals):
        return CallState.VOICEMAIL
    return CallState.MISSED
