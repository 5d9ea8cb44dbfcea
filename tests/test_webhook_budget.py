"""The fail-open budget: one timer for every step, a step cut at the deadline, the
recording left running in the background."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.calls.budget import Budget

ODD = 7.31  # a budget no other timer of the test's loop shares


@pytest.fixture
async def timers() -> AsyncIterator[list[float]]:
    """The deadlines of every `loop.call_at` made while the test runs."""
    loop = asyncio.get_running_loop()
    made: list[float] = []
    original = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        made.append(when)
        return original(when, callback, *args, **kwargs)

    loop.call_at = counting  # type: ignore[method-assign]
    yield made
    loop.call_at = original  # type: ignore[method-assign]


async def test_find_record_and_answer_share_one_timer(timers: list[float]) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    budget = Budget(ODD)
    found = await budget.bounded(asyncio.sleep(0, "tenant"))
    recording = asyncio.ensure_future(asyncio.sleep(0.01, "outcome"))
    assert await budget.wait(recording)
    answer = await budget.bounded(asyncio.sleep(0.01, "answer"))
    budget.close()
    own = [when for when in timers if started + ODD <= when <= loop.time() + ODD]
    assert (found, recording.result(), answer) == ("tenant", "outcome", "answer")
    assert len(own) == 1  # other timers (sleeps, the app's sweepers) aside, the budget made one


async def test_a_step_still_waiting_at_the_deadline_times_out_and_the_task_goes_on() -> None:
    budget = Budget(0.05)
    with pytest.raises(TimeoutError):
        await budget.bounded(asyncio.sleep(10))
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left pending on the request
    assert await asyncio.sleep(0.01, "after") == "after"
    budget.close()


async def test_a_recording_over_budget_is_not_cancelled() -> None:
    budget = Budget(0.05)
    recording = asyncio.ensure_future(asyncio.sleep(0.2, "recorded"))
    assert not await budget.wait(recording)
    budget.close()
    assert not recording.done()
    assert await recording == "recorded"


async def test_an_answer_needing_no_io_finishes_when_the_budget_is_spent() -> None:
    budget = Budget(0.02)
    recording = asyncio.ensure_future(asyncio.sleep(0.03, "late"))
    await asyncio.sleep(0.05)
    assert budget.spent and await budget.wait(recording)  # done: taken even though spent

    async def answer() -> str:
        return "answer"

    assert await budget.bounded(answer()) == "answer"
    with pytest.raises(TimeoutError):  # one that waits on I/O is cut at once
        await budget.bounded(asyncio.sleep(1))
    budget.close()


async def test_a_wait_on_a_spent_budget_returns_at_once() -> None:
    budget = Budget(0.0)
    recording = asyncio.ensure_future(asyncio.sleep(0.05))
    assert not await budget.wait(recording)
    await recording


async def test_cancelling_the_request_is_not_a_timeout_and_leaves_the_recording() -> None:
    recording = asyncio.ensure_future(asyncio.sleep(0.1, "recorded"))

    async def request(step: str) -> None:
        budget = Budget(5.0)
        try:
            if step == "bounded":
                await budget.bounded(asyncio.sleep(10))
            else:
                await budget.wait(recording)
        finally:
            budget.close()

    for step in ("bounded", "wait"):
        task = asyncio.ensure_future(request(step))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await recording == "recorded"


async def test_a_step_that_turns_the_cancellation_into_another_error_keeps_it() -> None:
    async def step() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("connection lost") from None

    budget = Budget(0.02)
    with pytest.raises(RuntimeError):
        await budget.bounded(step())
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    budget.close()
