"""The ceiling for bench/ring_to_pop.py: the cheapest FastAPI endpoint there is.

Served by the same `python -m uvicorn … --log-level warning` command as the app, so the
difference in req/s is what Stamgast's webhook does beyond FastAPI and uvicorn.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bare")


@app.post("/bare")
async def bare() -> dict[str, bool]:
    """Answer at once; the body is not even read."""
    return {"ok": True}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Readiness, as the app's own /healthz."""
    return {"status": "ok"}
