"""`stamgast sources list|add|remove` on a migrated SQLite file of its own."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from tests.test_cli import cli_db

__all__ = ["cli_db"]
runner = CliRunner()

SOURCE = {
    "name": "CRM",
    "kind": "http",
    "config": {
        "url": "https://crm.example.org/api/people?phone={e164}",
        "auth": "bearer",
        "mapping": {"display_name": "name"},
    },
}


def test_sources_are_added_listed_and_removed(cli_db: str, tmp_path: Path) -> None:
    made = runner.invoke(cli, ["create-api-key", "--tenant", "acme", "--create-tenant"])
    assert made.exit_code == 0, made.output
    file = tmp_path / "crm.json"
    file.write_text(json.dumps(SOURCE))
    # A bearer source needs its token: the CLI says so, and adds nothing.
    refused = runner.invoke(cli, ["sources", "add", "--tenant", "acme", str(file)])
    assert refused.exit_code == 1 and "bearer token" in refused.output
    added = runner.invoke(
        cli, ["sources", "add", "--tenant", "acme", str(file)],
        env={"STAMGAST_SOURCE_SECRET": "tok-123"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Added source 'CRM' (http" in added.output
    listed = runner.invoke(cli, ["sources", "list", "--tenant", "acme"])
    assert "CRM" in listed.output and "crm.example.org" in listed.output
    assert "tok-123" not in listed.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SOURCE, "config": {**SOURCE["config"], "url": "ftp://x/"}}))
    failed = runner.invoke(cli, ["sources", "add", "--tenant", "acme", str(bad), "--secret", "x"])
    assert failed.exit_code == 1 and "config.url" in failed.output
    removed = runner.invoke(cli, ["sources", "remove", "--tenant", "acme", "CRM"])
    assert removed.exit_code == 0 and "Removed source 'CRM'" in removed.output
    again = runner.invoke(cli, ["sources", "remove", "--tenant", "acme", "CRM"])
    assert again.exit_code == 1 and "no source named 'CRM'" in again.output
