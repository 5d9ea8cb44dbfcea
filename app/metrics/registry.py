"""Every Stamgast metric, defined once (names: `stamgast_<what>_<unit>`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Ring-to-pop and webhook latencies are milliseconds-scale: buckets from 1 ms to 5 s.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

RING_TO_POP = Histogram(
    "stamgast_ring_to_pop_seconds",
    "From the webhook received to the pop's frame written to an agent (one per agent)",
    ["transport"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_SECONDS = Histogram(
    "stamgast_webhook_seconds",
    "Time to answer a phone system's webhook",
    ["provider", "outcome"],
    buckets=LATENCY_BUCKETS,
)
RECOGNITION = Counter(
    "stamgast_recognitions",
    "Ringing calls by how the caller was recognised (source: by a lookup source)",
    ["outcome"],
)
LATE_SOURCE_CARDS = Counter(
    "stamgast_recognitions_late_source",
    "Cards updated after ringing with what a slow lookup source found",
)
CONNECTED_AGENTS = Gauge(
    "stamgast_connected_agents",
    "Open agent streams (WebSocket and SSE)",
    multiprocess_mode="livesum",
)
POPS = Counter(
    "stamgast_pops",
    "Pop frames written to agents: delivered live, replayed on reconnect, or dropped "
    "(the agent fell behind and must replay)",
    ["kind"],
)
HELD = Counter(
    "stamgast_webhook_events_held",
    "Webhook deliveries held for a retry (database away, over budget, failed)",
)
HELD_NOW = Gauge(
    "stamgast_webhook_events_held_now",
    "Webhook deliveries waiting for a retry now",
    multiprocess_mode="livesum",
)
DEAD_LETTERED = Counter(
    "stamgast_webhook_events_dead_lettered",
    "Webhook deliveries that failed too often and wait for an admin",
)
CALLBACKS = Gauge(
    "stamgast_callbacks",
    "Callback requests by status, read from the database at scrape time",
    ["tenant", "status"],
    multiprocess_mode="mostrecent",
)
CALLBACKS_OVERDUE = Gauge(
    "stamgast_callbacks_overdue",
    "Open callback requests past their due time, read from the database at scrape time",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
SOURCE_SECONDS = Histogram(
    "stamgast_source_lookup_seconds",
    "Time a lookup source took to answer (or fail)",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
SOURCE_FAILURES = Counter(
    "stamgast_source_failures",
    "Lookup source queries that failed",
    ["kind", "reason"],
)
