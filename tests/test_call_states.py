"""The call state machine, property-tested over event order, duplicates and lost events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.calls.states import FINAL, CallFacts, CallState, Signal, Step, advance, final_state
from telephony_adapters.base import Direction, EventKind

RINGING = Signal(EventKind.RINGING)
APP_ANSWER = Signal(EventKind.ANSWERED, by_application=True)
PERSON_ANSWER = Signal(EventKind.ANSWERED)
HANGUP = Signal(EventKind.ENDED)
HANGUP_TALKED = Signal(EventKind.ENDED, person_answered=True)
HANGUP_UNANSWERED = Signal(EventKind.ENDED, person_answered=False)
MISSED = Signal(EventKind.MISSED)
VOICEMAIL = Signal(EventKind.VOICEMAIL)
ALL = [
    RINGING, APP_ANSWER, PERSON_ANSWER, HANGUP, HANGUP_TALKED, HANGUP_UNANSWERED, MISSED,
    VOICEMAIL,
]  # fmt: skip


def key(signal: Signal) -> tuple[object, ...]:
    """What the database's idempotency key tells apart (app.calls.lifecycle.delivery_key)."""
    return (signal.kind, signal.by_application, signal.person_answered)


def run(direction: Direction, deliveries: list[Signal]) -> tuple[CallFacts, list[Step]]:
    """Deliver in order; a repeat of a delivered key is dropped, as the database drops it."""
    facts = CallFacts(CallState.RINGING, direction, person_answered=False)
    seen: set[tuple[object, ...]] = set()
    steps = []
    for signal in deliveries:
        if key(signal) in seen:
            continue
        seen.add(key(signal))
        step = advance(facts, signal)
        steps.append(step)
        facts = CallFacts(step.state, direction, step.person_answered)
    return facts, steps


directions = st.sampled_from(list(Direction))
# A call's events: any subset of what vendors send (the rest lost), each possibly repeated,
# in any order.
deliveries = st.lists(st.sampled_from(ALL), min_size=1, max_size=12)


@settings(max_examples=3000, deadline=None)
@given(directions, deliveries)
def test_the_end_state_does_not_depend_on_order_or_repeats(
    direction: Direction, sent: list[Signal]
) -> None:
    facts, _ = run(direction, sent)
    assert facts.state is final_state(direction, sent)


@settings(max_examples=2000, deadline=None)
@given(directions, deliveries, st.randoms(use_true_random=False))
def test_any_order_of_the_same_events_ends_the_same(
    direction: Direction, sent: list[Signal], rng: object
) -> None:
    shuffled = list(sent)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert run(direction, sent)[0] == run(direction, shuffled)[0]


@settings(max_examples=2000, deadline=None)
@given(directions, deliveries)
def test_a_call_finishes_once_and_only_an_unanswered_inbound_call_asks_for_a_callback(
    direction: Direction, sent: list[Signal]
) -> None:
    facts, steps = run(direction, sent)
    assert sum(step.finished_now for step in steps) == (1 if facts.state in FINAL else 0)
    callbacks = sum(step.open_callback for step in steps)
    if direction is not Direction.INBOUND:
        assert callbacks == 0
        assert facts.state not in (CallState.MISSED, CallState.VOICEMAIL)
    answered_by_person = any(
        (s.kind is EventKind.ANSWERED and not s.by_application) or s.person_answered for s in sent
    )
    if answered_by_person:
        assert facts.state in (CallState.ANSWERED, CallState.ENDED)
        assert facts.person_answered
    # A callback opened for a call that later proved answered is withdrawn by the revision.
    if callbacks and answered_by_person:
        assert any(step.revised for step in steps)


@settings(max_examples=1000, deadline=None)
@given(directions, deliveries)
def test_pops_follow_the_state(direction: Direction, sent: list[Signal]) -> None:
    _, steps = run(direction, sent)
    for step in steps:
        if step.pop == "call.missed":
            assert step.state is CallState.MISSED
        if step.pop == "call.answered":
            assert step.state is CallState.ANSWERED
        if step.pop == "call.ringing":
            assert step.state is CallState.RINGING


def test_an_application_answering_is_not_a_person_answering() -> None:
    facts, steps = run(Direction.INBOUND, [RINGING, APP_ANSWER, HANGUP])
    assert facts.state is CallState.MISSED
    assert [s.pop for s in steps] == ["call.ringing", None, "call.missed"]
    assert steps[-1].open_callback


def test_a_hangup_that_shows_a_person_talked_reconciles_a_lost_answer() -> None:
    facts, steps = run(Direction.INBOUND, [RINGING, HANGUP_TALKED])
    assert facts.state is CallState.ENDED and facts.person_answered
    assert steps[-1].answered_now and not steps[-1].open_callback


def test_an_answer_after_the_hangup_revises_the_missed_call() -> None:
    facts, steps = run(Direction.INBOUND, [RINGING, MISSED, PERSON_ANSWER])
    assert facts.state is CallState.ENDED
    assert steps[1].open_callback
    assert steps[2].revised and steps[2].pop == "call.ended"


def test_an_unanswered_outbound_call_ends_without_a_callback() -> None:
    for final in (HANGUP, MISSED, VOICEMAIL, HANGUP_UNANSWERED):
        facts, steps = run(Direction.OUTBOUND, [RINGING, final])
        assert facts.state is CallState.ENDED
        assert steps[-1].pop == "call.ended" and not steps[-1].open_callback


def test_voicemail_after_a_missed_hangup_keeps_one_callback() -> None:
    facts, steps = run(Direction.INBOUND, [RINGING, HANGUP, VOICEMAIL])
    assert facts.state is CallState.VOICEMAIL
    assert sum(s.open_callback for s in steps) == 1
    assert steps[-1].revised
