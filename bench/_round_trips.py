"""Count database round trips in a server process: every hop to the driver, not an estimate.

    trips = RoundTrips.install()      # before the app opens any connection
    app = RoundTripsRoute(app, trips)  # GET /_bench/round-trips -> {"sqlite": n, "postgresql": m}

SQLite (aiosqlite): every piece of work reaches the connection's thread through one queue,
`Connection._tx` (aiosqlite/core.py: `_connect`, `_execute`, which every execute, fetch,
commit and rollback goes through, and `stop`). Each connection's queue is wrapped right after
`Connection.__init__` so that each `put_nowait` counts one hop; the worker thread was given
the original queue and reads it unchanged.

PostgreSQL (asyncpg): every request to the server goes through the connection's protocol
object (asyncpg/protocol/protocol.pyx: `prepare`, `bind_execute`, `bind_execute_many`,
`bind`, `execute`, `query`, `close_statement`, `close_portal`, `copy_in`, `copy_out`; each
is one exchange with the server, a pipelined `executemany` included). `Connection.__init__`
stores it in `_protocol`; it is replaced by a proxy that counts those calls and hands
everything else to the real protocol.

What it costs (timeit on this machine): +0.14 µs per SQLite hop, +0.5 µs per asyncpg
request and ~0.8 µs per other protocol attribute the proxy hands on; a ringing webhook on
main makes 22 SQLite hops in ~4 ms of CPU, so under 0.1 % there. bench/ring_to_pop.py
`--round-trips off` serves without it: the same run with and without gave the same
4.06 ms CPU per ringing webhook.

Each asyncpg request is also timed, from the call to its answer (the wall time the awaiting
webhook waits: the server's work, the network, and the wake-ups of both processes), in a
histogram per statement (its first three words: `WITH seen AS` is the hot path's read,
`WITH ev AS` its write) that the route answers as `postgresql_wall`; a benchmark takes the
difference of two answers for its window (`wall_percentiles`).

Only bench/ and tests/test_bench_round_trips.py install this; the app never does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

PATH = "/_bench/round-trips"
WALL_BUCKET_MS = 0.05  # histogram buckets of asyncpg requests' wall time...
WALL_BUCKETS = 600  # ...up to 30 ms; slower ones land in the last bucket

# asyncpg protocol methods that send a request to the server and wait for its answer.
ASYNCPG_EXCHANGES = (
    "prepare",
    "bind_execute",
    "bind_execute_many",
    "bind",
    "execute",
    "query",
    "close_statement",
    "close_portal",
    "copy_in",
    "copy_out",
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class RoundTrips:
    """Hops to each driver since the process started (the event loop's thread only)."""

    _installed: RoundTrips | None = None

    def __init__(self) -> None:
        self.sqlite = 0
        self.postgresql = 0
        self.postgresql_wall: dict[str, list[int]] = {}  # statement -> histogram
        self._undo: list[Callable[[], None]] = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "sqlite": self.sqlite,
            "postgresql": self.postgresql,
            "postgresql_wall": {k: list(v) for k, v in self.postgresql_wall.items()},
        }

    def observe(self, statement: str, seconds: float) -> None:
        """One asyncpg request of `statement` took `seconds` from call to answer."""
        histogram = self.postgresql_wall.get(statement)
        if histogram is None:
            histogram = self.postgresql_wall[statement] = [0] * WALL_BUCKETS
        histogram[min(WALL_BUCKETS - 1, int(seconds * 1000 / WALL_BUCKET_MS))] += 1

    @classmethod
    def install(cls) -> RoundTrips:
        """Patch aiosqlite and asyncpg so every connection opened from now on is counted."""
        if cls._installed is not None:  # patched twice, every hop would count twice
            return cls._installed
        trips = cls()
        trips._patch_aiosqlite()
        trips._patch_asyncpg()
        cls._installed = trips
        return trips

    def uninstall(self) -> None:
        """Restore the drivers (connections opened meanwhile keep counting)."""
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        if RoundTrips._installed is self:
            RoundTrips._installed = None

    def _patch_aiosqlite(self) -> None:
        import aiosqlite.core

        connection_class = aiosqlite.core.Connection
        original = connection_class.__init__
        trips = self

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self._tx = _CountingQueue(self._tx, trips)

        connection_class.__init__ = __init__  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(connection_class, "__init__", original))

    def _patch_asyncpg(self) -> None:
        import asyncpg.connection

        connection_class = asyncpg.connection.Connection
        original = connection_class.__init__
        trips = self

        def __init__(self: Any, protocol: Any, *args: Any, **kwargs: Any) -> None:
            original(self, _CountingProtocol(protocol, trips), *args, **kwargs)

        connection_class.__init__ = __init__  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(connection_class, "__init__", original))


class _CountingQueue:
    """The aiosqlite connection's work queue, counting what is put on it."""

    __slots__ = ("_queue", "_trips")

    def __init__(self, queue: Any, trips: RoundTrips) -> None:
        self._queue, self._trips = queue, trips

    def put_nowait(self, item: Any) -> None:
        self._trips.sqlite += 1
        self._queue.put_nowait(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def _statement(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The first three words of the SQL a request carries: `prepare(name, query, …)` and
    `query(query, …)` pass the text, the others a prepared statement's `state` holding it
    (asyncpg passes them by position or by keyword)."""
    if name == "prepare":
        text = kwargs.get("query", args[1] if len(args) > 1 else None)
    elif name == "query":
        text = kwargs.get("query", args[0] if args else None)
    else:
        state = kwargs.get("state", args[0] if args else None)
        text = getattr(state, "query", None)
    if isinstance(text, str) and text.strip():
        return " ".join(text.split(None, 3)[:3])
    return "(other)"


async def _timed(trips: RoundTrips, statement: str, request: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    try:
        return await request
    finally:
        trips.observe(statement, time.perf_counter() - started)


def _exchange(name: str) -> Callable[..., Any]:
    def method(self: _CountingProtocol, *args: Any, **kwargs: Any) -> Any:
        self._trips.postgresql += 1
        request = getattr(self._protocol, name)(*args, **kwargs)
        return _timed(self._trips, _statement(name, args, kwargs), request)

    method.__name__ = name
    return method


def wall_percentiles(
    before: dict[str, list[int]], after: dict[str, list[int]], statement: str
) -> dict[str, float | int] | None:
    """Count, p50 and p90 (ms, bucket upper bounds) of `statement`'s requests between two
    `postgresql_wall` answers; None when there were none."""
    now = after.get(statement)
    if now is None:
        return None
    then = before.get(statement, [0] * len(now))
    window = [a - b for a, b in zip(now, then, strict=True)]
    total = sum(window)
    if not total:
        return None
    found: dict[str, float | int] = {"n": total}
    for name, share in (("p50", 0.5), ("p90", 0.9)):
        running = 0
        for index, count in enumerate(window):
            running += count
            if running >= share * total:
                found[name] = round((index + 1) * WALL_BUCKET_MS, 2)
                break
    return found


class _CountingProtocol:
    """An asyncpg protocol that counts the requests sent through it."""

    __slots__ = ("_protocol", "_trips")

    def __init__(self, protocol: Any, trips: RoundTrips) -> None:
        self._protocol, self._trips = protocol, trips

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)


for _name in ASYNCPG_EXCHANGES:
    setattr(_CountingProtocol, _name, _exchange(_name))


class RoundTripsRoute:
    """ASGI middleware: GET /_bench/round-trips answers the counts; the rest goes to `app`."""

    def __init__(self, app: Asgi, trips: RoundTrips | None) -> None:
        self.app, self.trips = app, trips

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        # Counting off (`--round-trips off`): the route still answers, with nulls.
        counts = (
            self.trips.snapshot()
            if self.trips
            else {"sqlite": None, "postgresql": None, "postgresql_wall": {}}
        )
        body = json.dumps(counts).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
