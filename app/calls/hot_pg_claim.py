"""A call's first ringing on PostgreSQL in one round trip: what `hot_pg_sql.CLAIM` writes.

A ringing event whose call does not exist yet is most of what a contact centre's phone
system sends first, and its pop waits for the event to be recorded. Its row is known
before the database but for whom the call is (contact and match, from the candidates), so
`claimable` decides it beforehand as `hot_lifecycle.decide` would for an unknown caller,
and CLAIM records it while reading, choosing contact and match by the rule the card uses.
`verified` then holds the statement's choice against `decide`'s own, made from the same
rows: a difference (a bug, never a race) is logged and the call's row set to `decide`'s.

Only where nothing needs the card to be written: a tenant whose subscribers want the
ringing's outbound events (their payload names the caller) takes the two-statement path,
as does every other event, and any ringing whose call exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from app.calls import hot_audit
from app.calls.hot_card import Card, empty_card
from app.calls.hot_lifecycle import CallRow, HotEvent, Plan, Tenancy, decide
from app.models import utcnow
from app.subscriptions.events import call_event_types
from telephony_adapters.base import EventKind

log = logging.getLogger("stamgast.calls")


@dataclass(frozen=True, slots=True)
class Claim:
    """The call a first ringing creates, decided before the database (contact unknown)."""

    call: CallRow
    audit: list[hot_audit.PopSeen]

    def args(self, hot: HotEvent) -> list[Any]:
        """CLAIM's parameters after READ's ($11 on)."""
        call, party = self.call, hot.party
        return [
            call.from_e164, call.from_masked, call.to_e164, call.direction, call.state,
            call.line_id, call.ringing_extension, call.started_at,
            "withheld" if party.is_withheld else "unknown", utcnow(),
            [seen.actor for seen in self.audit], [seen.agent_id for seen in self.audit],
            party.masked,
        ]  # fmt: skip


class _Unrecognised:
    """Reads for the decision made before the database: nobody is known yet."""

    def recognise(self, hot: HotEvent) -> Card:
        return empty_card("unknown", hot.number)

    def call_interaction(self, call: CallRow) -> None:
        return None

    def callback_of_call(self, call: CallRow) -> None:
        return None

    def open_callback(self, call: CallRow, known: bool) -> None:
        return None


def claimable(tenancy: Tenancy, hot: HotEvent) -> Claim | None:
    """The claim for a ringing event, should its call not exist; None when CLAIM cannot
    write all that event needs (not a ringing, or outbound events that need the card)."""
    if hot.event.kind is not EventKind.RINGING:
        return None
    plan = decide(tenancy, hot, None, _Unrecognised())
    if plan.interaction is not None or plan.callback is not None:
        return None
    announced = call_event_types(plan.written.pop, finished_now=False, recognised=True)
    if any(event in tenancy.subscribers for event in (*announced, *plan.events)):
        return None
    return Claim(plan.call, hot_audit.rows(hot, plan))


async def verified(conn: Any, claim: Claim, hot: HotEvent, plan: Plan, row: Any) -> None:
    """Hold what CLAIM wrote against `decide`'s plan for the same rows (see the docstring)."""
    plan.call.id = row["claimed_call_id"]
    claimed = replace(
        claim.call,
        id=row["claimed_call_id"],
        contact_id=row["claimed_contact_id"],
        match=row["claimed_match"],
    )
    audited = [(seen.actor, seen.agent_id) for seen in claim.audit]
    same_audit = audited == [(seen.actor, seen.agent_id) for seen in hot_audit.rows(hot, plan)]
    if plan.created and plan.call == claimed and same_audit:
        return
    log.error("call %s claimed unlike decided: correcting its row", claimed.id)
    await conn.execute(
        "UPDATE calls SET contact_id = $2, match = $3, state = $4, line_id = $5, "
        "ringing_extension = $6 WHERE id = $1",
        plan.call.id, plan.call.contact_id, plan.call.match, plan.call.state,
        plan.call.line_id, plan.call.ringing_extension,
    )  # fmt: skip
