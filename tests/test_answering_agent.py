"""The agent a phone system names as answering is matched literally, never as a pattern,
in the database and in the routing each process keeps in memory alike."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.calls.routing import find_answering_agent
from app.calls.routing_cache import load
from app.db import session_scope
from app.models import Agent
from tests.conftest import TenantCtx


@pytest.mark.parametrize(
    ("answered_by", "expected"),
    [
        ("%", None),  # would match every SIP URI as a LIKE pattern
        ("_", None),
        ("2_1", None),  # one-character wildcard against sip:201@…
        ("a%", None),
        ("201", "Sanne"),  # by extension
        ("a_b", "Ali"),  # a literal underscore in the SIP user still matches
        ("a%b", "Pim"),  # and a literal percent sign
        ("axb", None),
        ("sip:201@pbx", "Sanne"),  # the whole SIP URI
        ("  201 ", "Sanne"),
        ("ali", "Ali"),  # by name, whatever its case
        ("", None),
    ],
)
async def test_answered_by_wildcards_are_literal(
    app: FastAPI, tenant: TenantCtx, answered_by: str, expected: str | None
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        session.add_all([
            Agent(tenant_id=tenant.id, name="Sanne", extension="201", sip_uri="sip:201@pbx"),
            Agent(tenant_id=tenant.id, name="Ali", sip_uri="sip:a_b@pbx"),
            Agent(tenant_id=tenant.id, name="Pim", sip_uri="sip:a%b@pbx"),
        ])  # fmt: skip
    async for session in session_scope(app.state.sessionmaker):
        found = await find_answering_agent(session, tenant_id=tenant.id, answered_by=answered_by)
        cached = (await load(session, tenant.id)).answering(answered_by)
    assert (found.name if found else None) == expected
    assert cached == found
