#!/bin/sh
# Container start: bring the schema up to date, then serve. Extra arguments go to uvicorn.
# Behind a load balancer, set FORWARDED_ALLOW_IPS to its address so --proxy-headers trusts it.
set -eu
stamgast migrate
exec uvicorn app.main:app --host "${STAMGAST_HOST:-0.0.0.0}" --port 8000 --proxy-headers "$@"
