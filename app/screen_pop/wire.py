"""One agent's WebSocket: pops written straight to the socket while the client keeps up.

Publishing hands each agent's frame to its connection (`Subscription.attach`), which
writes it at once: the ASGI `send` of the frame is stepped by hand, and as long as the
socket is not backed up it completes without ever suspending (uvicorn's WebSocket
implementations suspend a send only while the transport's write buffer is above its
high-water mark), so a pop costs no queue, no task wake-up and no lock. A send that does
suspend is handed, exactly where it stopped, to a flusher task that finishes it and then
writes what queued up behind it (the subscription's bounded backlog, whose overflow ends
the stream with `bye` as before); once the backlog is empty, frames go direct again.

So an idle connection is one task (the ASGI one, reading pings and the disconnect), and a
second exists only while its client is behind. Frames are sent by one writer at a time:
directly (only while no flusher exists) or by the flusher, so they never interleave and
no lock is needed; the order is the publish order, and the opening (hello, replay) is
written before the connection takes live frames (what arrives meanwhile waits in the
backlog, as the stream's docstring describes).
"""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import Awaitable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, cast

from starlette.websockets import WebSocket

from app.metrics import timing as webhook_timing
from app.screen_pop.hub import Stream

SEND_TIMEOUT = 10.0  # a client that takes longer to accept one frame is gone or stuck
PONG = '{"type":"pong"}'


@dataclass
class WireStats:
    """How this process's WebSocket frames went out (for tests and benchmarks)."""

    direct: int = 0  # written while publishing, without the backlog
    backlog: int = 0  # written by a flusher (opening, catch-up, or a client behind)
    flushers: int = 0  # flusher tasks started because a client fell behind


STATS = WireStats()


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """Await a coroutine that was started by hand and suspended on `yielded`: the awaiting
    task takes it over exactly where it stopped (as `yield from` would have)."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation reaches the send it interrupts
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration:
                return


def _is_ping(text: str) -> bool:
    try:
        return bool(json.loads(text) == {"type": "ping"})
    except ValueError:
        return False


class Wire:
    """The agent connection behind one WebSocket; `run()` it in the ASGI task."""

    __slots__ = (
        "_busy", "_flusher", "_pongs", "_stop", "_stopping", "_stream", "_websocket", "error",
    )  # fmt: skip

    def __init__(self, websocket: WebSocket, stream: Stream) -> None:
        self._websocket = websocket
        self._stream = stream
        # True while frames must go through the backlog: during the opening, and while a
        # flusher is writing (a send in progress, or frames queued behind it).
        self._busy = True
        self._flusher: asyncio.Task[None] | None = None
        self._pongs = 0  # pongs owed while the flusher has the socket
        self._stop: asyncio.Timeout | None = None
        self._stopping = False
        self.error: Exception | None = None  # what ended the writing, if it failed

    async def run(self) -> None:
        """Write the opening, then live frames, until the client leaves or the stream ends."""
        stream = self._stream
        try:
            async for event in stream.opening():
                await self._send(event.data)
        except Exception as exc:
            self._fail(exc)
        else:
            stream.attach(self._take, self._wake)
            await self._flush()  # what arrived during the opening; direct after that
        try:
            await self._read()
        finally:
            flusher = self._flusher
            if flusher is not None:
                flusher.cancel()
                await asyncio.gather(flusher, return_exceptions=True)

    async def _read(self) -> None:
        """Answer pings until the client disconnects or the writing side stops us."""
        try:
            async with asyncio.timeout(None) as self._stop:
                while not self._stopping:
                    message = await self._websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    text = message.get("text")
                    if text and len(text) < 256 and _is_ping(text):
                        self._pong()
        except TimeoutError:
            pass  # stopped by `_end_reading`: the stream ended or writing failed
        finally:
            self._stop = None

    def _end_reading(self) -> None:
        self._stopping = True
        if self._stop is not None and not self._stop.expired():
            self._stop.reschedule(asyncio.get_running_loop().time())

    def _take(self, seq: int, message: bytes) -> bool:
        """The subscription's direct path: write the next pop now, if nothing is ahead."""
        if self._busy or not self._stream.in_order(seq):
            return False
        self._stream.cursor = seq
        STATS.direct += 1
        frame = message.decode()
        self._write_now(frame)
        webhook_timing.written(frame, "websocket")
        return True

    def _pong(self) -> None:
        if self._busy:
            self._pongs += 1
            return
        self._write_now(PONG)

    def _wake(self) -> None:
        """Something waits in the backlog (or the feed ended): start a flusher if needed."""
        if not self._busy:
            self._busy = True
            self._start_flusher(self._flush())

    def _write_now(self, text: str) -> None:
        send = self._websocket.send_text(text)
        try:
            yielded = send.send(None)
        except StopIteration:
            return  # written: the usual case
        except Exception as exc:
            self._fail(exc)
            return
        # Backed up: the send waits for the socket to drain. The flusher finishes it, and
        # what is published meanwhile queues behind it (bounded, see Subscription).
        self._busy = True
        STATS.flushers += 1
        # (A generator-based coroutine: awaitable, which mypy cannot see through the decorator.)
        self._start_flusher(self._flush(cast(Awaitable[None], _resume(send, yielded))))

    def _start_flusher(self, flush: Coroutine[Any, Any, None]) -> None:
        self._flusher = asyncio.get_running_loop().create_task(flush)

    async def _flush(self, in_flight: Awaitable[None] | None = None) -> None:
        """Finish a send in progress, then write the backlog; back to direct when empty."""
        subscription = self._stream.subscription
        try:
            if in_flight is not None:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await in_flight
            while True:
                if self._pongs:
                    self._pongs -= 1
                    await self._send(PONG)
                    continue
                if not subscription.pending:
                    # No await between this test and clearing the flag: a frame published
                    # from now on is written directly, after everything before it.
                    self._busy = False
                    self._flusher = None
                    return
                item = subscription.get_nowait()
                if item is None:
                    bye = self._stream.farewell()
                    if bye is not None:
                        await self._send(bye.data)
                    self._end_reading()
                    return
                async for event in self._stream.follow(*item):
                    STATS.backlog += 1
                    await self._send(event.data)
                    if event.kind == "pop" and not event.replayed:
                        webhook_timing.written(event.data, "websocket")
        except Exception as exc:
            self._fail(exc)

    async def _send(self, text: str) -> None:
        async with asyncio.timeout(SEND_TIMEOUT):
            await self._websocket.send_text(text)

    def _fail(self, exc: Exception) -> None:
        """Writing failed (client gone or stuck, broker unavailable): no more frames."""
        if self.error is None:
            self.error = exc
        self._busy = True
        self._end_reading()
