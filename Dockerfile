# Stamgast in one container: SQLite in the /data volume by default; set
# STAMGAST_DATABASE_URL (postgresql+asyncpg://...) and STAMGAST_REDIS_URL for a cluster.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STAMGAST_HOST=0.0.0.0 \
    STAMGAST_DATABASE_URL=sqlite+aiosqlite:////data/stamgast.db \
    STAMGAST_CACHE_DIR=/app/.cache \
    STAMGAST_SPOOL_PATH=/data/inbox.sqlite

RUN groupadd --system stamgast \
    && useradd --system --gid stamgast --home-dir /app --no-create-home stamgast \
    && mkdir -p /data \
    && chown stamgast:stamgast /data

WORKDIR /app
COPY . /app
# Installed in place (editable) on purpose: app/migrate.py finds pyproject.toml and the
# Alembic migrations next to the package, i.e. here in /app, not in site-packages.
# The place-name index is built into the image: the app user cannot write /app at run time
# (the durable inbox of held webhooks lives in the /data volume for the same reason).
RUN pip install --no-cache-dir -e . \
    && chmod 0755 /app/docker/entrypoint.sh \
    && python -c "from app import place_names as p; from app.settings import get_settings as s; \
p.configure(s().cache_dir); assert p.ensure_index()"

USER stamgast
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

ENTRYPOINT ["/app/docker/entrypoint.sh"]
