"""The parts of bench/ring_to_pop.py's report that come from bench/_phases.py: the cost of each
event kind, and Stamgast next to the reference path (bench/reference_path.py)."""

from __future__ import annotations

from typing import Any

from _tables import Grid

KIND_ROWS = ("ringing", "duplicate", "answered", "ended", "missed")


def _phase(lineup: dict[str, Any], kind: str) -> dict[str, Any] | None:
    figures: dict[str, Any] | None = (
        lineup.get("open_loop") if kind == "ringing" else lineup.get("kinds", {}).get(kind)
    )
    return figures


def _cpu(figures: dict[str, Any] | None) -> str | None:
    if not figures or figures.get("cpu_ms_per_webhook") is None:
        return None
    return f"{figures['cpu_ms_per_webhook']:.2f} ms"


def _trips(figures: dict[str, Any] | None) -> str | None:
    if not figures or figures.get("round_trips_per_webhook") is None:
        return None
    return f"{figures['round_trips_per_webhook']:.2f}"


def _count(figures: dict[str, Any] | None) -> str | None:
    if not figures:
        return None
    return f"{figures['webhooks_ok']} ok of {figures.get('webhooks', figures.get('calls_posted'))}"


def kinds_sections(grid: Grid, setups: list[dict[str, Any]]) -> None:
    """Server CPU and database round trips per webhook, each event kind in its own phase."""
    grid.section("Per webhook by event kind, Stamgast (server CPU; database round trips)")
    for kind in KIND_ROWS:
        grid.row(f"{kind} CPU", [_cpu(_phase(s, kind)) for s in setups])
        grid.row(f"{kind} round trips", [_trips(_phase(s, kind)) for s in setups])
        grid.row(f"{kind} webhooks", [_count(_phase(s, kind)) for s in setups])
    grid.row("idle CPU per s", [f"{s['idle']['cpu_ms_per_s']} ms" for s in setups])
    grid.row("idle round trips per s", [s["idle"]["round_trips_per_s"] for s in setups])


def _ms(figures: dict[str, Any], key: str) -> float | None:
    value = figures.get("ring_to_pop", {}).get(key)
    return None if value is None or value != value else float(value)  # NaN: no pops


def _rows(lineup: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, float | None]:
    ringing, duplicate = lineup["open_loop"], lineup.get("kinds", {}).get("duplicate", {})
    return {
        "CPU per ringing webhook (ms)": ringing.get("cpu_ms_per_webhook"),
        "round trips per ringing webhook": ringing.get("round_trips_per_webhook"),
        "ring-to-pop p50 (ms)": _ms(ringing, "p50_ms"),
        "ring-to-pop p99 (ms)": _ms(ringing, "p99_ms"),
        "pops lost": ringing.get("pops_lost"),
        "degraded answers": ringing.get("degraded"),
        "CPU per duplicate (ms)": duplicate.get("cpu_ms_per_webhook"),
        "round trips per duplicate": duplicate.get("round_trips_per_webhook"),
        "ceiling req/s": ceiling.get("req_per_s"),
        "ceiling CPU per webhook (ms)": ceiling.get("cpu_ms_per_webhook"),
        "ceiling round trips per webhook": ceiling.get("round_trips_per_webhook"),
    }


def _shown(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def versus(name: str, setup: dict[str, Any], rate: float) -> str | None:
    """Stamgast and the reference path side by side, with the ratio, for one setup."""
    if "reference" not in setup:
        return None
    ours = _rows(setup, setup["ceiling"]["webhook"])
    theirs = _rows(setup["reference"], setup["reference"]["ceiling"])
    grid = Grid(["stamgast", "reference", "stamgast/reference"])
    grid.section(
        f"{name}: Stamgast next to the reference path (bench/reference_path.py), "
        f"{rate} calls/s offered"
    )
    for label, value in ours.items():
        other = theirs[label]
        ratio = f"{value / other:.2f}" if value is not None and other else None
        grid.row(label, [_shown(value), _shown(other), ratio])
    return grid.render()
