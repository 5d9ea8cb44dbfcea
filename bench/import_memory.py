"""What importing costs in resident memory: the server's own imports, and each library a
server loads only on first use (tests/test_import_memory.py keeps them out of start-up).

    .venv/bin/python bench/import_memory.py [--json]

Each figure is VmRSS measured in a fresh interpreter (`python -c`, this venv), so nothing one
import brought in is counted for another:
  steps     the server's imports one after the other (interpreter, asyncio, uvloop,
            pydantic, FastAPI, SQLAlchemy async, ..., app.main), each the growth it caused;
  on use    each lazily imported library on top of `app.main`: what the first use of that
            feature adds to a running server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS = [
    "asyncio", "uvloop", "httptools", "pydantic", "fastapi", "sqlalchemy",
    "sqlalchemy.ext.asyncio", "aiosqlite", "phonenumbers",
    "uvicorn.protocols.websockets.websockets_sansio_impl", "app.main",
]  # fmt: skip
ON_USE = [
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "httpx",
    "app.sources.http_source",
    "app.sources.ldap_source",
    "app.sources.carddav_source",
    "redis.asyncio",
    "asyncpg",
    "alembic.command",
    "app.cli",
    "app.importer.service",
]

PROBE = """
import importlib, json, sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
out = [["interpreter", rss()]]
for name in sys.argv[1:]:
    before = rss()
    importlib.import_module(name)
    out.append([name, rss() - before])
out.append(["total", rss()])
print(json.dumps(out))
"""


def probe(modules: list[str]) -> list[tuple[str, float]]:
    """VmRSS growth per module, imported in this order in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMGAST_", "OTEL_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return [(name, round(mib, 1)) for name, mib in json.loads(done.stdout)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    steps = probe(STEPS)
    on_use = {name: probe([*STEPS, name])[-2][1] for name in ON_USE}
    if args.json:
        print(json.dumps({"steps": steps, "on_use": on_use}, indent=2))
        return 0
    print("Server imports, in order (VmRSS growth, fresh interpreter)")
    for name, mib in steps:
        print(f"  {name:52} {mib:6.1f} MiB")
    print("\nLoaded on first use, on top of app.main (VmRSS growth)")
    for name, mib in on_use.items():
        print(f"  {name:52} {mib:6.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
