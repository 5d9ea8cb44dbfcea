"""Access logs never carry a caller's full number or an agent token."""

from __future__ import annotations

import logging

from app.log_privacy import AccessLogRedaction, redact


def test_redact_masks_numbers_and_hides_tokens() -> None:
    line = "/v1/lookup?number=%2B31612345678&called=0331234567"
    assert redact(line) == "/v1/lookup?number=+31 6 **** 5678&called=+31 33 **** 4567"
    assert redact("/v1/stream?token=sga_abcdef12_secret&last_seq=4") == (
        "/v1/stream?token=***&last_seq=4"
    )
    assert redact("/v1/contacts?q=jan") == "/v1/contacts?q=jan"


def test_filter_rewrites_uvicorn_access_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/lookup?number=0612345678", "1.1", 200), None,
    )  # fmt: skip
    assert AccessLogRedaction().filter(record)
    message = record.getMessage()
    assert "12345678" not in message
    assert "+31 6 **** 5678" in message
