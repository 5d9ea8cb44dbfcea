"""The readable report of bench/ring_to_pop.py (its --json prints the same numbers)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from _common import Setup


@dataclass
class Table:
    """A plain two-column report, grouped in sections."""

    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    def section(self, title: str, rows: list[tuple[str, Any]]) -> None:
        self.sections.append((title, [(k, str(v)) for k, v in rows]))

    def render(self) -> str:
        width = max((len(k) for _t, rows in self.sections for k, _v in rows), default=10)
        out: list[str] = []
        for title, rows in self.sections:
            out.append(f"\n{title}\n{'-' * len(title)}")
            out.extend(f"  {k.ljust(width)}  {v}" for k, v in rows)
        return "\n".join(out).lstrip("\n")


def fmt_latency(summary: dict[str, Any]) -> str:
    """One line: p50 / p95 / p99 / max in ms, and how many samples."""
    return (
        f"p50 {summary['p50_ms']:.1f} / p95 {summary['p95_ms']:.1f} / "
        f"p99 {summary['p99_ms']:.1f} / max {summary['max_ms']:.1f} ms (n={summary['count']})"
    )


def render(args: argparse.Namespace, setup: Setup, result: dict[str, Any]) -> str:
    table = Table()
    m = result["machine"]
    table.section(
        "Machine",
        [
            ("CPUs", m["cpu_count"]),
            ("platform", m["platform"]),
            ("python", m["python"]),
            (
                "load avg before/after",
                f"{result['machine_load']['before']} / "
                f"{result['machine_load']['after']} (1, 5, 15 min)",
            ),
            ("setup (migrate+seed)", f"{setup.seconds:.1f} s"),
        ],
    )
    o = result["open_loop"]
    table.section(
        f"Open loop: {args.agents} agents, {args.rate} calls/s offered for {args.seconds} s, "
        f"{args.contacts} contacts",
        [
            (
                "calls posted",
                f"{o['calls_posted']} (statuses {o['statuses']}, degraded {o['degraded']})",
            ),
            ("calls/s achieved", o["calls_per_s"]),
            ("webhook latency", fmt_latency(o["webhook_latency"])),
            ("ring-to-pop latency", fmt_latency(o["ring_to_pop"])),
            (
                "pops expected/received",
                f"{o['pops_expected']} / {o['pops_received']} (lost {o['pops_lost']})",
            ),
            ("CPU server / client", f"{o['server_cpu_s']} s / {o['client_cpu_s']} s"),
            ("scheduler worst lag", f"{o['scheduler_worst_lag_ms']} ms"),
        ],
    )
    c = result["ceiling"]
    hook, flat = c["webhook"], c["bare"]
    table.section(
        f"Ceiling: closed loop, {c['concurrency']} concurrent, {c['seconds']:.0f} s each",
        [
            (
                "webhook req/s",
                f"{hook['req_per_s']} (statuses {hook['statuses']}, degraded {hook['degraded']})",
            ),
            ("webhook latency", fmt_latency(hook["latency"])),
            ("webhook pops exp/recv", f"{hook['pops_expected']} / {hook['pops_received']}"),
            ("bare FastAPI req/s", f"{flat['req_per_s']} (statuses {flat['statuses']})"),
            ("bare latency", fmt_latency(flat["latency"])),
            ("webhook / bare", c["webhook_to_bare"]),
            ("server CPU webhook/bare", f"{hook['server_cpu_s']} s / {flat['server_cpu_s']} s"),
        ],
    )
    s = result["server"]
    table.section(
        "Server process",
        [
            (
                "peak RSS (VmHWM)",
                f"{s['peak_rss_mib']:.1f} MiB (bare app: {flat['peak_rss_mib']:.1f} MiB)",
            ),
            ("agent disconnects", s["agent_disconnects"] or "none"),
            ("bye notices", s["byes"]),
        ],
    )
    text = table.render()
    if s["log"]:
        text += "\n\nServer log (distinct lines, most frequent first):\n" + "\n".join(s["log"])
    return text
