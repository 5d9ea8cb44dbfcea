"""The durable spool on its own: what goes in survives the process, in order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.calls.spool import Spool, SpoolUnavailable, default_path, open_spool

AT = datetime(2026, 12, 3, 10, 42, tzinfo=UTC)


def _add(spool: Spool, body: bytes, tenant: str = "t1") -> int:
    return spool.add(
        provider="generic", tenant_slug=tenant, method="POST", url="http://x/webhooks/generic/t1",
        headers={"x-stamgast-signature": "v1=ab"}, body=body, received_at=AT,
    )  # fmt: skip


def test_what_is_kept_survives_a_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    spool = Spool(path)
    first, second = _add(spool, b"one"), _add(spool, b"two\x00bytes")
    spool.close()  # as a killed process leaves it: nothing but the file
    again = Spool(path)
    pending = again.pending()
    assert [(e.id, e.body) for e in pending] == [(first, b"one"), (second, b"two\x00bytes")]
    assert pending[0].headers == {"x-stamgast-signature": "v1=ab"}
    assert pending[0].received_at == AT
    again.done(first)
    assert [e.id for e in again.pending()] == [second]


def test_dead_letters_leave_the_queue_until_revived_or_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "inbox.sqlite")
    poison, good = _add(spool, b"poison"), _add(spool, b"good")
    assert spool.failed(poison, "ValueError: year 9999") == 1
    assert spool.failed(poison, "ValueError: year 9999") == 2
    spool.bury(poison, "ValueError: year 9999")
    assert [e.id for e in spool.pending()] == [good]
    assert spool.count_dead() == 1
    [dead] = spool.dead("t1")
    assert (dead.id, dead.error) == (poison, "ValueError: year 9999")
    assert spool.dead("other-tenant") == []
    assert spool.revive(poison, "other-tenant") is None  # not theirs
    revived = spool.revive(poison, "t1")
    assert revived is not None and revived.attempts == 0
    assert spool.count_dead() == 0
    spool.bury(poison, "again")
    assert not spool.drop(poison, "other-tenant")
    assert spool.drop(poison, "t1") and spool.count_dead() == 0


def test_the_spool_lives_next_to_its_database(tmp_path: Path) -> None:
    assert default_path(f"sqlite+aiosqlite:///{tmp_path}/stamgast.db", tmp_path / "c") == (
        tmp_path / "stamgast.db-inbox"
    )
    a = default_path("postgresql+asyncpg://u@h:5432/a", tmp_path / "c")
    b = default_path("postgresql+asyncpg://u@h:5432/b", tmp_path / "c")
    assert a.parent == tmp_path / "c" and a != b


def test_a_spool_that_cannot_be_opened_says_which_setting_to_change(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(SpoolUnavailable, match="STAMGAST_SPOOL_PATH"):
        open_spool(blocker / "inbox.sqlite")
