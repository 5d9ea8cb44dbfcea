"""`python -m uvicorn APP ARGS…` with database round trips counted: how the benchmarks serve.

    python bench/_counted_server.py app.main:app --host 127.0.0.1 --port 8000 \\
        --log-level warning --ws-per-message-deflate false

The arguments are uvicorn's own, parsed by uvicorn's command line, and the app is then run by
the same function `python -m uvicorn` ends in, so the server is configured exactly as it
would be without this wrapper. Before the app is imported, bench/_round_trips.py patches
aiosqlite and asyncpg to count every hop to them, and the app is wrapped so that
`GET /_bench/round-trips` answers the counts (only in this process; the app has no such
route). With BENCH_ROUND_TRIPS=off nothing is patched and the route answers nulls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    from uvicorn.importer import import_from_string
    from uvicorn.main import main as command  # the click command `python -m uvicorn` runs

    # bench/ (this file's folder) is sys.path[0]; the apps are imported from the repo root,
    # as `python -m uvicorn` run from there would.
    sys.path.insert(0, str(ROOT))
    from _round_trips import RoundTrips, RoundTripsRoute

    with command.make_context("uvicorn", argv) as context:
        params = dict(context.params)
    trips = RoundTrips.install() if os.environ.get("BENCH_ROUND_TRIPS") != "off" else None
    params["app"] = RoundTripsRoute(import_from_string(params["app"]), trips)
    assert command.callback is not None
    command.callback(**params)


if __name__ == "__main__":
    main(sys.argv[1:])
