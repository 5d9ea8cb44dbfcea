"""The `stamgast` command: serve, migrate, issue keys, seed the demo, export the OpenAPI file,
manage lookup sources, purge by retention, and simulate a phone system's call events
against a running server.

Thin by design: each command parses its options and calls a module that does the work.
"""

from __future__ import annotations

# Importing the command modules registers their commands on `cli`.
from app.cli import commands, keys, retention, sources
from app.cli.base import CliError, cli, main
from app.simulate import SECRET_ENV

__all__ = [
    "SECRET_ENV",
    "CliError",
    "cli",
    "commands",
    "keys",
    "main",
    "retention",
    "sources",
]
