"""`stamgast import` on the command line: exit codes, and memory that stays flat.

Each test has a SQLite file of its own; the memory test runs the command in subprocesses.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.migrate import upgrade
from app.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "import" / "contacts.csv"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=";").writerows(rows)
    return path


runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file with tenant `acme`, which the CLI's settings point at."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("STAMGAST_DATABASE_URL", url)
    get_settings.cache_clear()
    created = runner.invoke(cli, ["create-api-key", "--tenant", "acme", "--create-tenant"])
    assert created.exit_code == 0, created.output
    yield url
    monkeypatch.undo()
    get_settings.cache_clear()


def test_cli_imports_with_rejects_and_exits_0(cli_db: str) -> None:
    result = runner.invoke(cli, ["import", str(SAMPLE), "--tenant", "acme", "--batch", "5"])
    assert result.exit_code == 0, result.output
    assert "line 6: missing name" in result.stdout
    assert "line 8: '12': not a phone number" in result.stdout
    assert "Imported without a phone number" in result.stdout
    assert "line 9: no number could be normalised" in result.stdout
    assert "Ignored columns: Geboortedatum" in result.stdout
    again = runner.invoke(cli, ["import", str(SAMPLE), "--tenant", "acme", "--dry-run"])
    assert again.exit_code == 0, again.output
    assert "Dry run: nothing was written" in again.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tenant", "nobody"], "tenant 'nobody' does not exist"),
        (["--tenant", "acme", "--map", "number"], "write it as field=Header"),
        (["--tenant", "acme", "--format", "xml"], "unknown format 'xml'"),
        (["--tenant", "acme", "--delimiter", ":"], "unknown delimiter ':'"),
    ],
)
def test_cli_exits_1_on_unusable_input(cli_db: str, arguments: list[str], message: str) -> None:
    result = runner.invoke(cli, ["import", str(SAMPLE), *arguments])
    assert result.exit_code == 1, result.output
    assert message in result.stderr


def test_cli_exits_1_on_unreadable_file_or_no_name_column(cli_db: str, tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["import", str(tmp_path / "nope.csv"), "--tenant", "acme"])
    assert missing.exit_code == 1
    assert "not found" in missing.stderr
    nameless = write_csv(tmp_path / "nameless.csv", [["Telefoon", "Stad"], ["0612345678", "Ede"]])
    result = runner.invoke(cli, ["import", str(nameless), "--tenant", "acme"])
    assert result.exit_code == 1
    assert "no name column" in result.stderr


def _generated(path: Path, rows: int) -> Path:
    """`rows` distinct contacts whose numbers repeat, so the normaliser's cache answers."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["Klantnummer", "Naam", "Taal", "Mobiel", "Telefoon", "Opmerkingen"])
        for i in range(rows):
            writer.writerow(
                [
                    f"M{i:07d}" if i % 3 else "",
                    f"Persoon {i}",
                    "nl" if i % 4 else "en-GB",
                    f"061{(i * 7) % 40_000:07d}",
                    f"033{2_000_000 + i % 9_000:07d}" if i % 2 else "",
                    "Belt liefst 's middags" if i % 5 == 0 else "",
                ]
            )
    return path


def _peak_rss_mb(tmp_path: Path, rows: int) -> float:
    url = f"sqlite+aiosqlite:///{tmp_path / f'mem{rows}.db'}"
    upgrade(url)
    env = {**os.environ, "STAMGAST_DATABASE_URL": url}
    command = [sys.executable, "-m", "app.cli"]
    subprocess.run([*command, "create-api-key", "--tenant", "mem", "--create-tenant"],
                   env=env, cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    source = _generated(tmp_path / f"mem{rows}.csv", rows)
    with (tmp_path / f"out{rows}.txt").open("wb") as out:
        process = subprocess.Popen(
            [*command, "import", str(source), "--tenant", "mem", "--workers", "0"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, (tmp_path / f"out{rows}.txt").read_text()
    return usage.ru_maxrss / 1024  # KiB on Linux


def test_memory_stays_flat_from_50k_to_200k_rows(tmp_path: Path) -> None:
    small = _peak_rss_mb(tmp_path, 50_000)
    large = _peak_rss_mb(tmp_path, 200_000)
    assert large - small < 40, f"peak RSS {small:.0f} MB at 50k rows, {large:.0f} MB at 200k"
