#!/bin/sh
# Container start: bring the schema up to date, then serve. Extra arguments go to uvicorn.
# Behind a load balancer, set FORWARDED_ALLOW_IPS to its address so --proxy-headers trusts it.
set -eu
stamgast migrate
# No per-message deflate: cards are small, and compressing each one per agent costs CPU on
# every pop and ~37 KiB per connection (bench/agents.py, bench/ring_to_pop.py).
# Logs: our loggers and uvicorn's through app/telemetry/logging.json (STAMGAST_LOG_FORMAT:
# JSON lines unless the container has a terminal, `docker run -t`).
exec uvicorn app.main:app --host "${STAMGAST_HOST:-0.0.0.0}" --port 8000 --proxy-headers --ws-per-message-deflate false --log-config app/telemetry/logging.json "$@"
