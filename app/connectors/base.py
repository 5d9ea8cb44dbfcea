"""A connector holds our connection to a phone system's event stream, and keeps it up.

Each connector runs one task: connect, log in, read events until the connection ends,
then wait (exponential backoff with jitter) and start over, until stopped. Nothing it
meets stops that loop or reaches the app: errors become its `state` and `last_error`,
which /readyz shows. Call events go to a `Delivery`, so a slow database never stalls
reading (a PBX disconnects a reader that falls behind).

Exceptions::

    ConnectorError          the session ended; `.message` is what /readyz shows
    └── LoginRefused        the phone system refused our credentials
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar

from app.connectors.delivery import Delivery
from telephony_adapters.base import CallEvent

log = logging.getLogger("stamgast.connectors")

T = TypeVar("T")
# Dials of one ring group arrive within a millisecond or two: waiting this long after the
# first message of a batch lets them ring as one (see telephony_adapters.pbx_calls).
BATCH_WINDOW_SECONDS = 0.02
MAX_BATCH = 500
READ_SIZE = 64 * 1024


class ConnectorState(StrEnum):
    """Where a connector's loop is."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class ConnectorError(Exception):
    """A session ended for a reason worth showing to the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginRefused(ConnectorError):
    """The phone system refused our credentials: fix the settings (we keep retrying)."""


class Connector(Protocol):
    """What the lifespan and /readyz need from a connector."""

    name: str

    @property
    def state(self) -> ConnectorState:
        """Where the connector's loop is now."""
        ...

    @property
    def last_error(self) -> str | None:
        """Why the last session ended (or failed to start), None before any failure."""
        ...

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        ...

    async def stop(self) -> None:
        """Disconnect, deliver what was read (briefly) and stop."""
        ...


def describe(connector: Connector) -> str:
    """One line for /readyz: the state, and the last error unless connected."""
    if connector.state is ConnectorState.CONNECTED or connector.last_error is None:
        return str(connector.state)
    return f"{connector.state}: {connector.last_error}"


class Backoff:
    """Exponential delays with jitter, so many clients do not reconnect in step."""

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None):
        self._initial = initial
        self._maximum = maximum
        self._rng = rng or random.Random()
        self._attempts = 0

    def next(self) -> float:
        """The next delay: between half and all of initial·2ⁿ, capped at the maximum."""
        ceiling = min(self._maximum, self._initial * 2.0 ** min(self._attempts, 30))
        self._attempts += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """A session got through: the next failure starts short again."""
        self._attempts = 0


@dataclass(frozen=True, slots=True)
class Runtime:
    """What every connector gets besides its address and credentials."""

    delivery: Delivery
    backoff: Backoff
    idle_seconds: float = 60.0
    connect_timeout: float = 10.0
    internal_max_digits: int = 6


class StreamConnector(ABC):
    """The reconnect loop; a subclass implements one session of its protocol."""

    provider: ClassVar[str]

    def __init__(self, runtime: Runtime) -> None:
        self.name = self.provider
        self.delivery = runtime.delivery
        self.attempts = 0
        self._backoff = runtime.backoff
        self._idle = runtime.idle_seconds
        self._connect_timeout = runtime.connect_timeout
        self._state = ConnectorState.STOPPED
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ConnectorState:
        return self._state

    @property
    def last_error(self) -> str | None:
        return self._last_error

    async def start(self) -> None:
        if self._task is not None:
            return
        await self.delivery.start()
        self._state = ConnectorState.CONNECTING
        self._task = asyncio.create_task(self._run(), name=f"connector-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._state = ConnectorState.STOPPED
        await self.delivery.stop()

    @abstractmethod
    async def _session(self) -> None:
        """Connect, log in, call `_connected()`, then read until the connection ends."""

    async def _run(self) -> None:
        while True:
            self._state = ConnectorState.CONNECTING
            self.attempts += 1
            try:
                await self._session()
                error = "the phone system closed the connection"
            except ConnectorError as exc:
                error = exc.message
            except (OSError, TimeoutError, EOFError, ValueError) as exc:
                error = _explain(exc)
            except Exception as exc:  # a bug must not end the loop: log it, retry
                log.exception("connector %s failed", self.name)
                error = _explain(exc)
            delay = self._backoff.next()
            self._state, self._last_error = ConnectorState.BACKOFF, error
            log.warning("connector %s: %s; reconnecting in %.1fs", self.name, error, delay)
            await asyncio.sleep(delay)

    def _connected(self) -> None:
        self._state = ConnectorState.CONNECTED
        self._backoff.reset()
        log.info("connector %s connected", self.name)

    def _emit(self, events: list[CallEvent]) -> None:
        if events:
            self.delivery.put(events)

    async def _read_batch(
        self,
        reader: asyncio.StreamReader,
        parse: Callable[[bytes], list[T]],
        probe: Callable[[], None],
    ) -> list[T]:
        """Parsed messages from the socket, gathered for BATCH_WINDOW_SECONDS.

        Silence for `idle_seconds` sends `probe` (a cheap command); silence for as long
        again means the connection is dead, though TCP has not noticed yet.
        """
        loop = asyncio.get_running_loop()
        items: list[T] = []
        probed = False
        while not items:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), self._idle)
            except TimeoutError:
                if probed:
                    raise ConnectorError(f"no answer for {2 * self._idle:g}s") from None
                probe()
                probed = True
                continue
            if not data:
                raise ConnectorError("the phone system closed the connection")
            probed = False
            items.extend(parse(data))
        deadline = loop.time() + BATCH_WINDOW_SECONDS
        while len(items) < MAX_BATCH and (remaining := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), remaining)
            except TimeoutError:
                break
            if not data:
                break  # handled by the next read, after this batch is delivered
            items.extend(parse(data))
        return items


def _explain(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def open_tcp(
    host: str, port: int, within: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection, or ConnectorError naming the address."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except TimeoutError:
        raise ConnectorError(f"no connection to {host}:{port} within {within:g}s") from None
    except OSError as exc:
        raise ConnectorError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


async def close_tcp(writer: asyncio.StreamWriter) -> None:
    """Close without waiting long for a peer that does not answer."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


async def read_some(reader: asyncio.StreamReader, when: str) -> bytes:
    """Whatever the socket has (for a handshake step); ConnectorError at end of stream."""
    data = await reader.read(READ_SIZE)
    if not data:
        raise ConnectorError(f"the phone system closed the connection {when}")
    return data
