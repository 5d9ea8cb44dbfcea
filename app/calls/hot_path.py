"""Recording a delivery's events fast: routing from memory, one round trip, plain data.

`EventRecorder.record` is what the receiver runs for every delivery. Where the database
has a hot store (SQLite: one hop; PostgreSQL: two round trips an event, one for a call's
first ringing), the events are
recorded by it and the pops are built as plain data and serialised once; elsewhere they go
through `lifecycle.handle_event` (the ORM), with routing from memory too. Both give the
same rows, outcome and pop JSON (tests/test_hot_path.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import pydantic_core
from pydantic import PrivateAttr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.deliveries import Pops
from app.calls.hot_card import describe_number
from app.calls.hot_lifecycle import HotEvent, Tenancy, Written
from app.calls.hot_store import HotStore
from app.calls.lifecycle import delivery_key, handle_event
from app.calls.providers import TenantProvider
from app.calls.routing_cache import RoutingCache
from app.models import utcnow
from app.phone import display, normalise
from app.recognition.masking import masked_data
from app.screen_pop.schemas import CALLER_NAME_LIMIT, Pop
from app.subscriptions.cache import SubscriberCache
from app.telemetry import context
from telephony_adapters.base import CallEvent, Direction, Outcome


class PreparedPop(Pop):
    """A pop serialised once from plain data; brokers send its JSON as it is.

    Only `pop_id`, `type`, `tenant_id` and `at` are set as attributes (the broker and the
    receiver read no others); the rest lives in the JSON, which `model_dump_json` returns.
    """

    _json: str = PrivateAttr(default="")
    _data: dict[str, Any] = PrivateAttr(default_factory=dict)
    _recognition: str = PrivateAttr(default="unknown")

    @classmethod
    def of(cls, data: dict[str, Any]) -> PreparedPop:
        """The pop for `data`, shaped as `Pop` serialises."""
        known: dict[str, Any] = {name: data[name] for name in ("pop_id", "type", "tenant_id", "at")}
        pop = cls.model_construct(**known)
        pop._json = pydantic_core.to_json(data).decode()
        pop._data = data
        card = data.get("card")
        if card is not None:  # for the recognition counter (app/metrics)
            pop._recognition = "source" if card.get("sources") else card["match"]
        return pop

    @property
    def recognition(self) -> str:
        """How the caller was recognised: the card's match, or "source"."""
        return self._recognition

    def model_dump_json(self, *args: Any, **kwargs: Any) -> str:
        """The JSON made once from the plain data."""
        return self._json

    def masked(self) -> PreparedPop | None:
        """As `Pop.masked`, from the plain data (serialised once more, for role `agent`)."""
        card = self._data.get("card")
        if card is None:
            return None
        masked = masked_data(card)
        if not masked["masked"]:
            return None
        pop = PreparedPop.of({**self._data, "card": masked})
        pop._recognition = self._recognition
        return pop


def prepare(tenant: TenantProvider, event: CallEvent) -> HotEvent:
    """What can be known of an event before the database (`handle_event`'s first lines)."""
    style, plan = event.number_style, tenant.extensions
    caller = normalise(event.from_raw, tenant.region, style=style, extensions=plan)
    called = normalise(event.to_raw, tenant.region, style=style, extensions=plan)
    # The card is about the other party: who rang us, or whom we rang. Our own line routes.
    outbound = event.direction is Direction.OUTBOUND
    party, line = (called, caller) if outbound else (caller, called)
    return HotEvent(
        event=event,
        key=delivery_key(event),
        at=event.occurred_at or utcnow(),
        caller=caller,
        called=called,
        party=party,
        line=line,
        number=describe_number(party, tenant.region),
    )


def outcome_of(written: Written) -> Outcome:
    """What the vendor's answer may say (`lifecycle._outcome`)."""
    card = written.card
    if card is None:
        return Outcome()
    return Outcome(
        recognised_name=card["display_name"],
        language=card["language"],
        has_open_callback=bool(card["callbacks"]),
    )


def pop_data(tenant: TenantProvider, hot: HotEvent, written: Written) -> dict[str, Any]:
    """The pop as plain data, field for field what `lifecycle.build_pop` makes."""
    call, route, region = written.call, written.route, tenant.region
    assert call is not None and route is not None and written.pop is not None
    caller = normalise(call.from_e164, region) if call.from_e164 else None
    party_e164 = call.to_e164 if call.direction == "outbound" else call.from_e164
    party = normalise(party_e164, region) if party_e164 else None
    # The phone system names whoever placed the call: on an outbound call, us.
    name = None if hot.event.direction is Direction.OUTBOUND else hot.event.caller_name
    return {
        "pop_id": uuid.uuid4().hex,
        "type": written.pop,
        "tenant_id": call.tenant_id,
        "call": {
            "id": call.id,
            "provider": call.provider,
            "provider_call_id": call.provider_call_id,
            "state": call.state,
            "direction": call.direction,
            "from_e164": call.from_e164,
            "from_display": display(caller, region) if caller else None,
            "to_e164": call.to_e164,
            "party_e164": party_e164,
            "party_display": display(party, region) if party else None,
            "line_label": route.line_label,
            "ringing_extension": call.ringing_extension,
            "answered_by_agent_id": call.answered_by_agent_id,
            "answered_by_name": call.answered_by,
            "started_at": call.started_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "interaction_id": written.interaction_id,
            "caller_name": (name or "").strip()[:CALLER_NAME_LIMIT] or None,
            "callback_request_id": written.callback_request_id,
        },
        "card": written.card,
        "at": hot.at,
    }


class EventRecorder:
    """Records a delivery's events and says what to answer and whom to pop."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        routes: RoutingCache,
        store: HotStore | None,
        subscribers: SubscriberCache | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.routes = routes
        self._store = store
        self._subscribers = subscribers

    async def record(
        self, tenant: TenantProvider, events: Sequence[CallEvent]
    ) -> tuple[Outcome, Pops]:
        """Record the events in one transaction (committed on return)."""
        if not events:
            return Outcome(), []
        if self._store is None:
            return await self._through_lifecycle(tenant, events)
        snapshot = await self.routes.get(tenant.tenant_id)
        prepared = [prepare(tenant, event) for event in events]
        wanting = {} if self._subscribers is None else await self._subscribers.get(tenant.tenant_id)
        tenancy = Tenancy(tenant.tenant_id, tenant.timezone, snapshot, wanting)
        outcome, pops = Outcome(), cast(Pops, [])
        call_id: int | None = None
        for hot, written in zip(prepared, await self._store.record(tenancy, prepared), strict=True):
            if written.call is None:  # a duplicate
                continue
            call_id = written.call.id
            outcome = outcome_of(written)
            if written.pop is not None and written.recipients:
                agents = [r.agent_id for r in written.recipients]
                pops.append((agents, PreparedPop.of(pop_data(tenant, hot, written))))
        _log_fields(call_id is not None, call_id)
        return outcome, pops

    async def _through_lifecycle(
        self, tenant: TenantProvider, events: Sequence[CallEvent]
    ) -> tuple[Outcome, Pops]:
        outcome, pops = Outcome(), []
        call_id: int | None = None
        recorded = False
        async with self._sessionmaker() as session:
            snapshot = await self.routes.get(tenant.tenant_id, session)
            wanting = None
            if self._subscribers is not None:
                wanting = await self._subscribers.get(tenant.tenant_id)
            for event in events:
                result = await handle_event(
                    session, tenant=tenant, event=event, routes=snapshot, subscribers=wanting
                )
                pops.extend(result.pops)
                recorded = recorded or not result.duplicate
                if result.pops:  # the ORM path names its call in the pop only
                    call_id = result.pops[-1][1].call.id
                if result.outcome.recognised_name is not None or not result.duplicate:
                    outcome = result.outcome
            await session.commit()
        _log_fields(recorded, call_id)
        return outcome, pops


def _log_fields(recorded: bool, call_id: int | None) -> None:
    """The call recorded (for the request's log lines), or that nothing new was."""
    context.bind(outcome="recorded" if recorded else "duplicate")
    if call_id is not None:
        context.bind(call_id=call_id)


async def record_events(
    recorder: EventRecorder, tenant: TenantProvider, events: Sequence[CallEvent]
) -> tuple[Outcome, Pops]:
    """The receiver's one way to record events (tests wrap it to inject failures)."""
    return await recorder.record(tenant, events)
