"""The readable report of bench/lookup.py (its --json prints the same numbers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _report import Table, fmt_latency

TARGET_P99_RATIO = 1.3


def render(args: argparse.Namespace, result: dict[str, Any]) -> str:
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
                f"{result['machine_load']['before']} / {result['machine_load']['after']}",
            ),
            ("client CPU", f"{result['client']['cpu_s']} s of ~{result['client']['wall_s']} s"),
        ],
    )
    for label in ("small", "large"):
        r = result[label]
        table.section(
            f"{label}: {r['contacts']:,} contacts ({args.database})",
            [
                ("dataset", r["dataset"]),
                ("throughput", f"{r['req_per_s']} lookups/s ({r['requests_ok']} ok)"),
                ("latency", fmt_latency(r["latency"])),
                ("statuses", r["statuses"]),
                ("wrong match", f"{r['wrong_match']} (known said unknown or vice versa)"),
                ("server CPU", f"{r['server_cpu_per_s']} s per s (1.0 = one core busy)"),
                ("server peak RSS", f"{r['server_peak_rss_mib']:.1f} MiB"),
                ("halves", r["segments"]),
            ],
        )
    ratios = result["ratios"]
    verdict = (
        "within target"
        if ratios["p99_large_over_small"] is not None
        and ratios["p99_large_over_small"] <= TARGET_P99_RATIO
        else "OVER target"
    )
    table.section(
        "Large vs small",
        [
            ("p99 ratio", f"{ratios['p99_large_over_small']} ({verdict} <= {TARGET_P99_RATIO})"),
            ("p50 ratio", ratios["p50_large_over_small"]),
            ("throughput ratio", ratios["throughput_large_over_small"]),
            ("normalise() miss", f"{result['normalise_miss_us']:.0f} µs per new number"),
        ],
    )
    out = table.render()
    if result.get("profile"):
        out += "\n\nProfile of the large server (main thread, by own time)\n" + result["profile"]
    return out


def profile_summary(path: Path, limit: int = 25) -> str:
    import io
    import pstats

    if not path.exists():
        return f"(no profile at {path}: the server did not exit cleanly)"
    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    return buffer.getvalue()
