"""Log lines as an operator's collector reads them: a real server process configured as the
container is (uvicorn --log-config app/telemetry/logging.json), every line JSON with the
request's fields, no caller's number in any of them; text on a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.migrate import upgrade
from app.telemetry.config import chosen_format, log_config
from telephony_adapters.generic import SIGNATURE_HEADER
from tests.support.live_server import live_server_process
from tests.support.sip import SeededTenant, seed_tenant
from tests.test_durable_inbox import SECRET, _signed

CONTAINER_LOGGING = ("--log-config", "app/telemetry/logging.json")
# Anything that could be a phone number left whole: seven digits or more in a row.
LONG_DIGITS = re.compile(r"\d{7,}")
ADA_DIGITS = "12345678"  # Ada is +31612345678 (06-12345678); the webhooks' caller too


async def _traffic(base_url: str, tenant: SeededTenant) -> dict[str, Any]:
    """Webhooks, lookups, numbers imported through the API and errors; what was sent."""
    key = {"Authorization": f"Bearer {tenant.admin_key}"}
    call = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        connected = await http.put("/v1/providers/generic", headers=key, json={"secret": SECRET})
        assert connected.status_code == 200, connected.text
        statuses: list[int] = []
        for event in ("ringing", "ringing", "answered"):  # the second is a vendor's retry
            body, headers = _signed(call, event)
            headers["X-Request-ID"] = f"pbx-{event}-{len(statuses)}"
            answer = await http.post(
                f"/webhooks/generic/{tenant.slug}", content=body, headers=headers
            )
            statuses.append(answer.status_code)
            assert answer.headers["X-Request-ID"] == headers["X-Request-ID"]
        body, headers = _signed(call, "ended")
        headers[SIGNATURE_HEADER] = "v1=forged"  # refused: 401
        forged = await http.post(f"/webhooks/generic/{tenant.slug}", content=body, headers=headers)
        unknown = await http.post(f"/webhooks/nosuchvendor/{tenant.slug}", content=b"{}")
        looked_up = await http.get("/v1/lookup", params={"number": "06-12345678"}, headers=key)
        searched = await http.get("/v1/contacts", params={"q": "0612345678"}, headers=key)
        imported = await http.post(
            "/v1/contacts",
            headers=key,
            json={"display_name": "Bram Jansen", "numbers": [{"number": "+31 6 87654321"}]},
        )
        invalid = await http.post(
            "/v1/contacts", headers=key, json={"display_name": "", "numbers": "0687654321"}
        )
        missing = await http.get("/v1/contacts/999999", headers=key)
        # An id that looks like a number is taken (it is sound) but masked in the log.
        numbered = await http.get("/healthz", headers={"X-Request-ID": "0612345678"})
    assert statuses == [200, 200, 200]
    assert (forged.status_code, unknown.status_code) == (401, 404)
    assert looked_up.status_code == 200 and "Ada" in looked_up.text, looked_up.text
    assert (searched.status_code, imported.status_code) == (200, 201), imported.text
    assert (invalid.status_code, missing.status_code) == (422, 404)
    return {
        "call": call,
        "lookup_id": looked_up.headers["X-Request-ID"],
        "numbered_id": numbered.headers["X-Request-ID"],
    }


def _read_lines(output: Any) -> list[str]:
    output.seek(0)
    return [line for line in output.read().decode().splitlines() if line.strip()]


async def test_a_served_process_writes_json_lines_with_the_requests_fields(
    tmp_path: Path,
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'stamgast.sqlite'}"
    await asyncio.to_thread(upgrade, database)
    tenant = await asyncio.to_thread(seed_tenant, database)
    env = {"STAMGAST_LOG_FORMAT": "json", "STAMGAST_SPOOL_PATH": str(tmp_path / "inbox")}
    with tempfile.TemporaryFile() as output:
        with live_server_process(
            database, extra_env=env, uvicorn_args=CONTAINER_LOGGING, output=output
        ) as (base_url, _process):
            sent = await _traffic(base_url, tenant)
        lines = _read_lines(output)

    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    unmasked = [line for line in lines if LONG_DIGITS.search(line) or ADA_DIGITS in line]
    assert not unmasked, unmasked
    assert not any("87654321" in line or SECRET in line for line in lines)

    access = [r for r in records if r["logger"] == "uvicorn.access"]
    webhooks = {r["request_id"]: r for r in access if r["path"].startswith("/webhooks/generic/")}
    ringing, retry, answered = (webhooks[f"pbx-{e}-{i}"] for i, e in enumerate(
        ("ringing", "ringing", "answered")
    ))  # fmt: skip
    for record in (ringing, retry, answered):
        assert record["tenant"] == tenant.slug and record["provider"] == "generic", record
        assert record["status"] == 200 and isinstance(record["tenant_id"], int), record
    assert ringing["outcome"] == "recorded" and retry["outcome"] == "duplicate"
    assert answered["outcome"] == "recorded" and answered["call_id"] == ringing["call_id"]
    assert isinstance(ringing["call_id"], int)
    refused = {r["outcome"]: r for r in access if r["status"] in (401, 404)}
    assert refused["bad_signature"]["provider"] == "generic"
    assert refused["unknown_provider"]["provider"] == "nosuchvendor"
    assert refused["not_found"]["tenant_id"] == ringing["tenant_id"]
    assert any(r["outcome"] == "validation_failed" and r["status"] == 422 for r in access)

    lookup = next(r for r in access if r["request_id"] == sent["lookup_id"])
    assert lookup["path"].startswith("/v1/lookup?number=") and "****" in lookup["path"]
    assert lookup["outcome"] == "ok" and lookup["tenant_id"] == ringing["tenant_id"]
    numbered = next(r for r in access if r["path"] == "/healthz" and "****" in r["request_id"])
    assert sent["numbered_id"] == "0612345678" and numbered["request_id"] != "0612345678"
    for record in access:  # every request has an id and an outcome
        assert record["request_id"] and record["outcome"], record
    assert any(r["logger"] == "uvicorn.error" for r in records)  # the server's own lines too


def test_text_on_a_terminal_json_elsewhere(tmp_path: Path) -> None:
    """STAMGAST_LOG_FORMAT=auto (the default): a person at a terminal reads text."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'stamgast.sqlite'}"
    upgrade(database)
    leader, follower = os.openpty()
    env = {"STAMGAST_SPOOL_PATH": str(tmp_path / "inbox")}
    try:
        with (
            os.fdopen(follower, "wb", buffering=0) as terminal,
            live_server_process(
                database, extra_env=env, uvicorn_args=CONTAINER_LOGGING, output=terminal
            ) as (base_url, _process),
        ):
            answer = httpx.get(f"{base_url}/v1/lookup?number=0612345678", timeout=5)
            assert answer.status_code == 401
            text = _read_terminal(leader, until=b"/v1/lookup")
    finally:
        os.close(leader)
    lines = [line for line in text.splitlines() if line.strip()]
    assert any("Uvicorn running on" in line for line in lines), lines
    access = next(line for line in lines if "/v1/lookup" in line)
    assert not access.lstrip().startswith("{")  # text, not JSON
    assert "number=+31 6 **** 5678" in access and "outcome=unauthorized" in access, access
    assert "request_id=" in access and ADA_DIGITS not in text


def _read_terminal(leader: int, until: bytes, seconds: float = 10.0) -> str:
    seen = b""
    deadline = time.monotonic() + seconds
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            seen += os.read(leader, 65536)
    time.sleep(0.2)  # the rest of the line
    while select.select([leader], [], [], 0.1)[0]:
        seen += os.read(leader, 65536)
    return seen.decode(errors="replace").replace("\r\n", "\n")


def test_auto_chooses_by_the_stream(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal, open(tmp_path / "file", "w") as file:
        assert chosen_format(terminal, "auto") == "text"
        assert chosen_format(file, "auto") == "json"
        assert chosen_format(terminal, "json") == "json"
        assert chosen_format(file, "text") == "text"
    os.close(leader)


def test_serve_sets_our_level_in_the_containers_configuration() -> None:
    config = log_config("debug")
    assert config["root"]["level"] == "DEBUG"
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]


@pytest.mark.parametrize("value", ["verbose", "JSONL"])
def test_a_wrong_format_is_refused_with_the_choices(value: str) -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="'auto', 'json' or 'text'"):
        Settings(log_format=value)  # type: ignore[arg-type]
