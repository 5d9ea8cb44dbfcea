"""bench/ring_to_pop.py still runs end to end: tiny figures, every part of the report present.

Nothing here is about speed. The one exact figure checked is a count: the reference path
(bench/reference_path.py) makes exactly 4 hops to SQLite for a new call and 3 for a retry,
so the server wrapper's counting (bench/_counted_server.py) reaches the benchmark intact.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("duplicate", "answered", "ended", "missed")


def test_ring_to_pop_runs_on_sqlite_and_reports_every_kind_and_the_reference() -> None:
    command = [
        sys.executable, "bench/ring_to_pop.py", "--setup", "sqlite", "--agents", "2",
        "--rate", "20", "--seconds", "0.5", "--contacts", "20", "--ceiling-seconds", "0.3",
        "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    setup = json.loads(done.stdout)["setups"]["sqlite"]

    ringing = setup["open_loop"]
    assert ringing["statuses"] == {"200": 10}
    assert ringing["pops_received"] == ringing["pops_expected"] == 20
    assert ringing["round_trips_per_webhook"] > 0
    assert ringing["cpu_ms_per_webhook"] is not None
    for kind in KINDS:
        phase = setup["kinds"][kind]
        assert phase["statuses"] == {"200": 5}, kind
        assert phase["round_trips_per_webhook"] > 0, kind
    assert setup["idle"]["round_trips_per_s"] is not None
    assert setup["ceiling"]["webhook"]["round_trips_per_webhook"] > 0
    assert setup["ceiling"]["bare"]["req_per_s"] > 0

    reference = setup["reference"]
    assert reference["open_loop"]["pops_received"] == 20
    assert reference["open_loop"]["round_trips_per_webhook"] == 4.0
    assert reference["kinds"]["duplicate"]["round_trips_per_webhook"] == 3.0
    assert list(reference["kinds"]) == ["duplicate"]
    assert setup["ceiling"]["reference_to_bare"] is not None


def test_the_report_prints_the_kinds_and_the_side_by_side() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _report_versus import versus
    finally:
        sys.path.remove(str(ROOT / "bench"))
    lineup = {
        "open_loop": {"cpu_ms_per_webhook": 4.0, "round_trips_per_webhook": 22.0,
                      "ring_to_pop": {"p50_ms": 4.2, "p99_ms": 7.2}, "pops_lost": 0,
                      "degraded": 0},
        "kinds": {"duplicate": {"cpu_ms_per_webhook": 3.0, "round_trips_per_webhook": 26.0}},
    }  # fmt: skip
    reference = {
        "open_loop": {"cpu_ms_per_webhook": 1.0, "round_trips_per_webhook": 4.0,
                      "ring_to_pop": {"p50_ms": 2.1, "p99_ms": 3.6}, "pops_lost": 0,
                      "degraded": 0},
        "kinds": {"duplicate": {"cpu_ms_per_webhook": 0.5, "round_trips_per_webhook": 3.0}},
        "ceiling": {"req_per_s": 800.0},
    }  # fmt: skip
    setup = lineup | {"reference": reference, "ceiling": {"webhook": {"req_per_s": 200.0}}}
    rendered = versus("sqlite", setup, 100.0)
    assert rendered is not None
    text: str = rendered

    def row(label: str) -> list[str]:
        (line,) = [line for line in text.splitlines() if line.startswith(f"  {label}  ")]
        cells: list[str] = line.split()[-3:]
        return cells

    assert row("CPU per ringing webhook (ms)") == ["4.00", "1.00", "4.00"]
    assert row("round trips per ringing webhook") == ["22.00", "4.00", "5.50"]
    assert row("ring-to-pop p50 (ms)") == ["4.20", "2.10", "2.00"]
    assert row("round trips per duplicate") == ["26.00", "3.00", "8.67"]
    assert row("ceiling req/s") == ["200.00", "800.00", "0.25"]
    assert row("pops lost") == ["0", "0", "-"]


def test_agents_measures_the_real_stamgast_serve_process() -> None:
    command = [
        sys.executable, "bench/agents.py", "--agents", "3", "--idle", "1", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["server"] == "`stamgast serve`"
    assert result["still_connected"] == 3 and result["disconnects"] == {}
    # Migrated and announced by the command, then served by the same (exec'd) process.
    assert any("API docs: http://127.0.0.1:" in line for line in result["log"])
    assert 0 < result["rss_started_mib"] <= result["rss_connected_mib"] <= result["hwm_mib"]


def test_agents_reference_serves_the_stream_floor() -> None:
    """bench/reference_stream.py looks each agent's token up, says hello and keeps them
    connected (bench/agents.py fails on anything but a hello)."""
    command = [
        sys.executable, "bench/agents.py", "--agents", "3", "--idle", "1", "--reference",
        "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["server"].startswith("uvicorn bench.reference_stream:app")
    assert result["still_connected"] == 3 and result["disconnects"] == {}
    assert 0 < result["rss_started_mib"] <= result["rss_connected_mib"] <= result["hwm_mib"]
