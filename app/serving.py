"""The server process `stamgast serve` becomes: uvicorn with our settings, nothing of the CLI.

`stamgast serve` migrates (Alembic) and may seed the demo (typer, rich, the demo data) before
it serves: ~18 MiB of modules that a server never uses again, yet that would stay resident
for its whole life (bench/import_memory.py, bench/agents.py). So once it is ready it replaces
itself with `python -m app.serving` (exec: the same process id, so a terminal's Ctrl-C and a
service manager's signals reach the server as before) and the server starts from a fresh
interpreter, as the container's `uvicorn app.main:app` does.
"""

from __future__ import annotations

import argparse
import os
import sys


def run(host: str, port: int) -> None:
    """Serve app.main:app here until stopped (blocking)."""
    import uvicorn

    from app.settings import get_settings
    from app.telemetry.config import log_config

    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        proxy_headers=True,
        # Cards are small: compressing each one per agent costs CPU on every pop and
        # ~37 KiB per connection (bench/agents.py, bench/ring_to_pop.py).
        ws_per_message_deflate=False,
        # Our loggers and uvicorn's in one format (STAMGAST_LOG_FORMAT: text on a terminal,
        # JSON lines otherwise), the same configuration the container's command names.
        log_config=log_config(settings.log_level),
        log_level=settings.log_level.lower(),
    )


def hand_over(host: str, port: int) -> None:
    """Become the server: exec a fresh interpreter running `run` (where exec replaces the
    process, i.e. not on Windows: there the server runs in this process instead)."""
    if os.name != "posix":
        run(host, port)
        return
    sys.stdout.flush()  # what the command printed must not be lost with this process image
    sys.stderr.flush()
    command = [sys.executable, "-m", "app.serving", "--host", host, "--port", str(port)]
    os.execv(sys.executable, command)


def main(argv: list[str] | None = None) -> None:
    """`python -m app.serving --host H --port P` (what `stamgast serve` execs)."""
    parser = argparse.ArgumentParser(prog="python -m app.serving", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    run(args.host, args.port)


if __name__ == "__main__":
    main()
