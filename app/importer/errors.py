"""Why an import cannot start.

    UnusableInput   the file, tenant or options cannot be used at all (CLI exit code 1)

Problems with single rows are not exceptions: they are collected in the report.
"""

from __future__ import annotations


class UnusableInput(Exception):
    """The import cannot run: unknown tenant, unreadable file, no name column, bad --map."""
