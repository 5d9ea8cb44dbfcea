"""A webhook's fail-open budget: one deadline and one timer shared by all of its steps.

The receiver finds the tenant, records the event and builds the answer within one budget.
Bounding each step with `asyncio.wait_for` cost a task, a timer and a waiter per step, and
keeping the recording alive past the budget a `shield` on top. Here one `loop.call_at`
handle serves every step, made when the first step has to wait:

- `bounded(step)` awaits a step in the request's own task; at the deadline the timer
  cancels it there and it raises TimeoutError (what `asyncio.timeout` does, for any number
  of steps). A step that needs no I/O finishes even when the budget is spent exactly.
- `wait(task)` waits for work running in a task of its own without ever cancelling it: at
  the deadline it returns False and the work goes on in the background.

The timer cancels the request's task only while that task is suspended inside `bounded`,
so the cancellation lands in that step and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Budget:
    """One deadline for a webhook's steps, `seconds` from now; `close()` when answered."""

    __slots__ = ("_bounded", "_cancelled", "_deadline", "_loop", "_task", "_timer", "_waiter")

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._deadline = self._loop.time() + seconds
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._bounded = False  # the request's task is inside `bounded`
        self._cancelled = False  # the timer cancelled it there

    @property
    def spent(self) -> bool:
        """True once the deadline has passed."""
        return self._loop.time() >= self._deadline

    async def bounded(self, step: Awaitable[T]) -> T:
        """Await `step` in this task; TimeoutError if it is still waiting at the deadline."""
        if self._task is None:  # not in a task (never under a server): nothing to cancel
            return await step
        self._arm()
        self._bounded = True
        try:
            return await step
        except asyncio.CancelledError:
            if not self._cancelled:
                raise  # cancelled from outside (shutdown): not ours to turn into a timeout
            self._cancelled = False
            self._task.uncancel()
            raise TimeoutError from None
        finally:
            self._bounded = False
            if self._cancelled:  # the step turned our cancellation into another error
                self._cancelled = False
                self._task.uncancel()

    async def wait(self, task: asyncio.Future[Any]) -> bool:
        """Wait for `task` until the deadline without cancelling it; True when it is done."""
        if task.done() or self.spent:
            return task.done()
        self._arm()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiter = waiter
        task.add_done_callback(self._wake)
        try:
            await waiter  # cancelling the request cancels this waiter, never `task`
        finally:
            task.remove_done_callback(self._wake)
            self._waiter = None
        return task.done()

    def close(self) -> None:
        """Drop the timer (the webhook is answered)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._timer is None:
            # After it fired (a step began past the deadline) this schedules it at once.
            self._timer = self._loop.call_at(self._deadline, self._expire)

    def _wake(self, _task: asyncio.Future[Any] | None = None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _expire(self) -> None:
        self._timer = None
        self._wake()
        if self._bounded and self._task is not None:
            self._cancelled = True
            self._task.cancel()
