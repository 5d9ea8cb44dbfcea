"""The durable inbox: webhooks we answered but could not record yet, kept on local disk.

A phone system is told 200 as soon as we have its request, database or not; from then on
the request is ours to keep. It goes into this spool (SQLite with synchronous=FULL, so the
write is on disk before the answer leaves) and out of it only once recorded, refused, or
moved to the dead letters after failing again and again while the database was up. A
process killed in between replays the spool when it starts.

The spool is a small local SQLite file per database (next to a SQLite database, in the
cache directory for PostgreSQL): it must work exactly when the real database does not.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    tenant_slug TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS held_by_state ON held (dead, id);
"""


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    """One held webhook as the vendor sent it, with what happened to it since."""

    id: int
    provider: str
    tenant_slug: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    attempts: int = 0
    error: str | None = None


def default_path(database_url: str, cache_dir: Path) -> Path:
    """Next to a SQLite database file; for a server database, one file per database URL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_name(Path(url.database).name + "-inbox")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return cache_dir / f"inbox-{digest}.sqlite"


class SpoolUnavailable(RuntimeError):
    """The spool file cannot be opened: the server must not answer webhooks it could lose."""


def open_spool(path: Path) -> Spool:
    """The spool at `path`; SpoolUnavailable, naming the setting to change, if it cannot be."""
    try:
        return Spool(path)
    except (OSError, sqlite3.Error) as exc:
        raise SpoolUnavailable(
            f"cannot open the durable inbox at {path} ({exc}): set STAMGAST_SPOOL_PATH to a "
            "file in a directory this process can write (in the Docker image: /data)"
        ) from exc


class Spool:
    """The spool file; every method is blocking (call it in a thread) and thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the commit is fsync'd, so what we answered 200 for survives a power cut.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(
        self,
        *,
        provider: str,
        tenant_slug: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
    ) -> int:
        """Keep one request; returns its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO held (provider, tenant_slug, method, url, headers, body, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    provider, tenant_slug, method, url, json.dumps(dict(headers)), body,
                    received_at.astimezone(UTC).isoformat(),
                ),
            )  # fmt: skip
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def done(self, entry_id: int) -> None:
        """The request was recorded (or refused for good): forget it."""
        with self._lock:
            self._db.execute("DELETE FROM held WHERE id = ?", (entry_id,))

    def failed(self, entry_id: int, error: str) -> int:
        """Count one failed attempt while the database was up; returns the attempts so far."""
        with self._lock:
            self._db.execute(
                "UPDATE held SET attempts = attempts + 1, error = ? WHERE id = ?",
                (error[:500], entry_id),
            )
            row = self._db.execute("SELECT attempts FROM held WHERE id = ?", (entry_id,)).fetchone()
        return int(row[0]) if row else 0

    def bury(self, entry_id: int, error: str) -> None:
        """Move a request that keeps failing to the dead letters, out of everyone's way."""
        with self._lock:
            self._db.execute(
                "UPDATE held SET dead = 1, error = ? WHERE id = ?", (error[:500], entry_id)
            )

    def revive(self, entry_id: int, tenant_slug: str) -> SpooledRequest | None:
        """Give a dead letter of this tenant another chance; None if there is no such one."""
        with self._lock:
            updated = self._db.execute(
                "UPDATE held SET dead = 0, attempts = 0 WHERE id = ? AND dead = 1 "
                "AND tenant_slug = ?",
                (entry_id, tenant_slug),
            ).rowcount
        if not updated:
            return None
        return next((e for e in self.pending() if e.id == entry_id), None)

    def drop(self, entry_id: int, tenant_slug: str) -> bool:
        """Delete a dead letter of this tenant for good; False if there is no such one."""
        with self._lock:
            return bool(
                self._db.execute(
                    "DELETE FROM held WHERE id = ? AND dead = 1 AND tenant_slug = ?",
                    (entry_id, tenant_slug),
                ).rowcount
            )

    def pending(self) -> list[SpooledRequest]:
        """Requests still to record, oldest first."""
        return self._select("dead = 0", ())

    def dead(self, tenant_slug: str | None = None) -> list[SpooledRequest]:
        """The dead letters (of one tenant), oldest first."""
        if tenant_slug is None:
            return self._select("dead = 1", ())
        return self._select("dead = 1 AND tenant_slug = ?", (tenant_slug,))

    def count_dead(self) -> int:
        """How many dead letters wait for an admin."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM held WHERE dead = 1").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _select(self, where: str, params: tuple[object, ...]) -> list[SpooledRequest]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, provider, tenant_slug, method, url, headers, body, received_at, "
                f"attempts, error FROM held WHERE {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            SpooledRequest(
                id=row[0],
                provider=row[1],
                tenant_slug=row[2],
                method=row[3],
                url=row[4],
                headers=json.loads(row[5]),
                body=bytes(row[6]),
                received_at=datetime.fromisoformat(row[7]),
                attempts=row[8],
                error=row[9],
            )
            for row in rows
        ]
