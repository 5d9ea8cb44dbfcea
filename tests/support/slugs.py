"""Test tenants' slugs without digit runs: logs mask seven digits in a row as a phone
number (app/log_privacy.py), and tests read slugs back from the logs."""

from __future__ import annotations

_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def letters_only(text: str) -> str:
    """`text` with each digit replaced by a letter (one to one, so still unique)."""
    return text.translate(_DIGITS_AS_LETTERS)
