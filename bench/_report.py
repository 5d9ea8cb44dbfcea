"""The readable report of bench/ring_to_pop.py (its --json prints the same numbers).

The setups stand side by side, one column each; then, per setup, Stamgast next to the
reference path (bench/_report_versus.py). `Table` (bench/_tables.py) is the two-column
report the other benchmarks print.
"""

from __future__ import annotations

from typing import Any

from _report_versus import kinds_sections, versus
from _tables import Grid, Table

__all__ = ["Grid", "Table", "fmt_latency", "render"]


def fmt_latency(summary: dict[str, Any]) -> str:
    """One line: p50 / p95 / p99 / max in ms, and how many samples."""
    return (
        f"p50 {summary['p50_ms']:.1f} / p95 {summary['p95_ms']:.1f} / "
        f"p99 {summary['p99_ms']:.1f} / max {summary['max_ms']:.1f} ms (n={summary['count']})"
    )


def _wall(figures: dict[str, Any], statement: str) -> str | None:
    """A hot-path statement's wall time per request (bench/_round_trips.py), if it ran."""
    found = (figures.get("postgresql_wall_ms") or {}).get(statement)
    return None if found is None else f"{found['p50']} / {found['p90']} ({found['n']})"


def _ms(summary: dict[str, Any]) -> str:
    return "{p50_ms:.1f} / {p95_ms:.1f} / {p99_ms:.1f} / {max_ms:.1f}".format(**summary)


def _each(values: list[Any], unit: str = "") -> str:
    """Per-process values: `1.2 s`, or `1.2 + 1.3 s` for two processes."""
    return " + ".join("-" if v is None else f"{v:.1f}" for v in values) + unit


def _services(figures: dict[str, Any]) -> str | None:
    cpu = figures.get("services_cpu_s")
    if not cpu:
        return None
    return f"{cpu.get('postgresql')} / {cpu.get('redis')} s"


def _crossed(figures: dict[str, Any]) -> str | None:
    if "cross_process_pops" not in figures:
        return None
    ways = figures["cross_process_by_direction"]
    return f"{figures['cross_process_pops']} ({ways.get('0->1', 0)}, {ways.get('1->0', 0)})"


def _client(figures: dict[str, Any]) -> str:
    cpu, wall = figures["client_cpu_s"], figures["wall_s"]
    # One Python process drives the load: near one core's worth, it measures itself.
    bound = " CLIENT-BOUND" if wall and cpu >= 0.8 * wall else ""
    return f"{cpu} s in {wall} s{bound}"


def _cpu_per_call(figures: dict[str, Any]) -> str:
    """All app processes' CPU over the calls they answered: what one webhook costs (its
    pops to the team included)."""
    answered = figures["statuses"].get("200", 0)
    if not answered:
        return "-"
    return f"{sum(figures['server_cpu_s']) / answered * 1000:.2f} ms"


def render(report: dict[str, Any]) -> str:
    setups: dict[str, dict[str, Any]] = report["setups"]
    p, m = report["parameters"], report["machine"]
    head = Table()
    head.section(
        "Machine",
        [
            ("CPUs", f"{m['cpu_count']} x {m['cpu_model']}"),
            ("platform", m["platform"]),
            ("python", m["python"]),
            ("load avg at end", f"{m['load_avg_at_end']} (1, 5, 15 min)"),
        ],
    )
    grid = Grid(list(setups))
    each = list(setups.values())

    def row(label: str, pick: Any) -> None:
        grid.row(label, [pick(s) for s in each])

    grid.section("Setup")
    row("processes", lambda s: f"{s['processes']} uvicorn")
    row("database", lambda s: "PostgreSQL + Redis" if s["processes"] > 1 else "SQLite file")
    row("teams (agents each)", lambda s: "{teams} ({min}-{max})".format(**s["team_size"]))
    row("migrate + seed", lambda s: f"{s['seed_seconds']} s")
    row("load avg before", lambda s: s["machine_load"]["before"])
    row("load avg after", lambda s: s["machine_load"]["after"])

    grid.section(
        f"Open loop: {p['agents']} agents, {p['rate']} calls/s offered for {p['seconds']} s, "
        f"{p['contacts']} contacts"
    )
    o = [s["open_loop"] for s in each]

    def orow(label: str, pick: Any) -> None:
        grid.row(label, [pick(x) for x in o])

    orow("calls posted (per process)", lambda x: f"{x['calls_posted']} "
         f"({' + '.join(str(n) for n in x['calls_per_process'].values())})")  # fmt: skip
    orow("statuses", lambda x: x["statuses"])
    orow("degraded answers", lambda x: x["degraded"])
    orow("calls/s achieved", lambda x: x["calls_per_s"])
    orow("webhook ms p50/p95/p99/max", lambda x: _ms(x["webhook_latency"]))
    orow("ring-to-pop ms p50/p95/p99/max", lambda x: _ms(x["ring_to_pop"]))
    orow(
        "  cross-process only",
        lambda x: _ms(x["ring_to_pop_cross_process"]) if "cross_process_pops" in x else None,
    )
    orow(
        "  same-process only",
        lambda x: _ms(x["ring_to_pop_same_process"]) if "cross_process_pops" in x else None,
    )
    orow("PostgreSQL read ms p50/p90 (n)", lambda x: _wall(x, "read"))
    orow("PostgreSQL write ms p50/p90 (n)", lambda x: _wall(x, "write"))
    orow("pops expected / received", lambda x: f"{x['pops_expected']} / {x['pops_received']}")
    orow("pops lost / misrouted", lambda x: f"{x['pops_lost']} / {x['pops_misrouted']}")
    orow("cross-process pops (0->1, 1->0)", _crossed)
    orow("CPU server (per process)", lambda x: _each(x["server_cpu_s"], " s"))
    orow("  per webhook answered 200", _cpu_per_call)
    orow("CPU PostgreSQL / Redis", _services)
    orow("CPU client", _client)
    orow("scheduler worst lag", lambda x: f"{x['scheduler_worst_lag_ms']} ms")

    c = [s["ceiling"] for s in each]
    grid.section(
        f"Ceiling: closed loop, {p['ceiling_concurrency']} concurrent, "
        f"{p['ceiling_seconds']:.0f} s each"
    )

    def crow(label: str, pick: Any) -> None:
        grid.row(label, [pick(x) for x in c])

    crow("webhook req/s", lambda x: x["webhook"]["req_per_s"])
    crow("webhook statuses", lambda x: x["webhook"]["statuses"])
    crow("webhook degraded", lambda x: x["webhook"]["degraded"])
    crow("webhook ms p50/p95/p99/max", lambda x: _ms(x["webhook"]["latency"]))
    crow("pops expected / received", lambda x: "{pops_expected} / {pops_received}".format(
        **x["webhook"]))  # fmt: skip
    crow("cross-process pops (0->1, 1->0)", lambda x: _crossed(x["webhook"]))
    crow("CPU server (per process)", lambda x: _each(x["webhook"]["server_cpu_s"], " s"))
    crow("CPU PostgreSQL / Redis", lambda x: _services(x["webhook"]))
    crow("CPU client", lambda x: _client(x["webhook"]))
    crow("bare FastAPI req/s", lambda x: x["bare"]["req_per_s"])
    crow("bare ms p50/p95/p99/max", lambda x: _ms(x["bare"]["latency"]))
    crow("bare CPU server (per process)", lambda x: _each(x["bare"]["server_cpu_s"], " s"))
    crow("bare CPU client", lambda x: _client(x["bare"]))
    crow("webhook / bare", lambda x: x["webhook_to_bare"])

    kinds_sections(grid, each)

    grid.section("Server processes")
    row("peak RSS (VmHWM)", lambda s: _each(s["server"]["peak_rss_mib"], " MiB"))
    row("RSS at end", lambda s: _each(s["server"]["rss_mib_at_end"], " MiB"))
    row("bare app peak RSS", lambda s: _each(s["ceiling"]["bare"]["peak_rss_mib"], " MiB"))
    row("agent disconnects", lambda s: s["server"]["agent_disconnects"] or "none")
    row("bye notices", lambda s: s["server"]["byes"])

    text = head.render() + "\n\n" + grid.render()
    for name, s in setups.items():
        side_by_side = versus(name, s, p["rate"])
        if side_by_side:
            text += "\n\n" + side_by_side
    for name, s in setups.items():
        logs = [("", s["server"]["log"])]
        if "reference" in s:
            logs.append((" reference", s["reference"]["server"]["log"]))
        for lineup, processes in logs:
            for i, lines in enumerate(processes):
                if lines:
                    text += (
                        f"\n\nServer log, {name}{lineup} process {i} "
                        "(distinct lines, most frequent first):\n"
                    )
                    text += "\n".join(lines)
    return text
