"""Prometheus metrics: what is counted (`registry`), how a pop's ring time travels to the
frame that shows it (`timing`), and the `/metrics` route (`route`).

Counters live in memory (or, with PROMETHEUS_MULTIPROC_DIR set, in this process's mmapped
files, which `/metrics` sums over every process): nothing on the webhook path does I/O.
"""
