"""Routing from memory: each tenant's lines, teams and agents, read once and kept.

A ringing phone must not wait for the directory, which changes a few times a day. Each
process keeps a `RoutingSnapshot` per tenant and answers `route` and `answering` from it,
exactly as `routing.route_call` and `routing.find_answering_agent` answer from the database.

A change to lines, teams, agents or team memberships is committed first, then announced with
`announce` (`routing:<tenant id>` on the screen-pop broker's invalidation channel): this
process forgets the tenant at once, the others as soon as Redis carries it. A process that
may have missed announcements (Redis reconnected) hears INVALIDATE_ALL and forgets every
tenant. A change made without an announcement (a row edited by hand) is seen after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.policy import CallbackPolicy
from app.calls.routing import Recipient, Route
from app.models import Agent, Line, Tenant, agent_teams
from app.screen_pop.broker import make_broker
from app.screen_pop.hub import ScreenPopHub
from app.settings import Settings
from app.tenant_cache import TenantCache

log = logging.getLogger(__name__)

PREFIX = "routing:"


@dataclass(frozen=True, slots=True)
class _Line:
    id: int
    label: str
    team_id: int | None


@dataclass(frozen=True, slots=True)
class _Agent:
    recipient: Recipient
    sip_uri: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """One tenant's directory as routing reads it; immutable, replaced whole on a change."""

    lines: dict[str, _Line]
    agents: tuple[_Agent, ...]  # every agent, by id (the answering one may be inactive)
    active: tuple[Recipient, ...]  # active agents, by id
    by_extension: dict[str, tuple[Recipient, ...]]  # active agents, by id
    by_team: dict[int, tuple[Recipient, ...]]  # active members, by id
    # Every agent's role (app/auth/roles.py): the hub serialises a pop once per role and
    # gives each agent its role's card. Here, so a role change reaches the next pop the
    # way every directory change does (announce, forget, reload).
    roles: dict[int, str]
    # When a missed call's callback is due (app/callbacks/policy.py): the tenant's, and the
    # lines that replace it. Kept here so the hot path decides due times from memory.
    callback_policy: CallbackPolicy = field(default_factory=lambda: CallbackPolicy.of(None))
    line_policies: dict[int, CallbackPolicy] = field(default_factory=dict)

    def policy(self, line_id: int | None) -> CallbackPolicy:
        """The callback policy for calls to a line: its own, else the tenant's."""
        if line_id is None:
            return self.callback_policy
        return self.line_policies.get(line_id, self.callback_policy)

    def route(self, called_key: str | None, extension: str | None) -> Route:
        """Agents for a call: the rung extension's, else the line's team, else everyone."""
        line = self.lines.get(called_key) if called_key is not None else None
        recipients: tuple[Recipient, ...] | None = None
        if extension:
            recipients = self.by_extension.get(extension)
        if not recipients:
            if line is not None and line.team_id is not None:
                recipients = self.by_team.get(line.team_id, ())
            else:
                recipients = self.active
        if line is None:
            return Route(line_id=None, line_label=None, recipients=recipients)
        return Route(line_id=line.id, line_label=line.label, recipients=recipients)

    def answering(self, answered_by: str) -> Recipient | None:
        """The agent a phone system named as answering: by extension, SIP user or name."""
        value = answered_by.strip()
        if not value:
            return None
        lowered, sip_user = value.lower(), f"sip:{value}@"
        for agent in self.agents:
            sip = agent.sip_uri
            if (
                agent.recipient.extension == value
                or (sip is not None and (sip == value or sip.startswith(sip_user)))
                or agent.recipient.name.lower() == lowered
            ):
                return agent.recipient
        return None


def snapshot_of(
    lines: Iterable[tuple[int, str, str, int | None]],
    agents: Iterable[tuple[int, str, str | None, str | None, bool, str]],
    memberships: Iterable[tuple[int, int]],
    callback_policy: dict[str, Any] | None = None,
    line_policies: dict[int, dict[str, Any]] | None = None,
) -> RoutingSnapshot:
    """A snapshot from rows: lines (id, number, label, team), agents (id, name, extension,
    SIP URI, active, role) and memberships (team, agent); stored callback policies of the
    tenant and of lines that have their own."""
    rows = sorted(agents)
    everyone = tuple(
        _Agent(Recipient(agent_id=id_, name=name, extension=ext), sip, bool(active))
        for id_, name, ext, sip, active, _role in rows
    )
    active = {a.recipient.agent_id: a.recipient for a in everyone if a.active}
    by_extension: dict[str, list[Recipient]] = {}
    for recipient in active.values():
        if recipient.extension:
            by_extension.setdefault(recipient.extension, []).append(recipient)
    by_team: dict[int, list[Recipient]] = {}
    for team_id, agent_id in sorted(memberships):
        if agent_id in active:
            by_team.setdefault(team_id, []).append(active[agent_id])
    return RoutingSnapshot(
        lines={number: _Line(id_, label, team) for id_, number, label, team in lines},
        agents=everyone,
        active=tuple(active.values()),
        by_extension={k: tuple(v) for k, v in by_extension.items()},
        by_team={k: tuple(sorted(v, key=lambda r: r.agent_id)) for k, v in by_team.items()},
        roles={row[0]: row[5] for row in rows},
        callback_policy=CallbackPolicy.of(callback_policy),
        line_policies={k: CallbackPolicy.of(v) for k, v in (line_policies or {}).items()},
    )


async def load(session: AsyncSession, tenant_id: int) -> RoutingSnapshot:
    """Read a tenant's routing rows and callback policies (four small statements, once per
    change)."""
    lines = (
        await session.execute(
            select(Line.id, Line.number_e164, Line.label, Line.team_id, Line.callback_policy).where(
                Line.tenant_id == tenant_id
            )
        )
    ).all()
    tenant_policy = await session.scalar(
        select(Tenant.callback_policy).where(Tenant.id == tenant_id)
    )
    agents = await session.execute(
        select(
            Agent.id, Agent.name, Agent.extension, Agent.sip_uri, Agent.active, Agent.role
        ).where(Agent.tenant_id == tenant_id)
    )
    members = await session.execute(
        select(agent_teams.c.team_id, agent_teams.c.agent_id)
        .join(Agent, Agent.id == agent_teams.c.agent_id)
        .where(Agent.tenant_id == tenant_id)
    )
    return snapshot_of(
        [(r[0], r[1], r[2], r[3]) for r in lines],
        [tuple(r) for r in agents],  # type: ignore[misc]
        [tuple(r) for r in members],  # type: ignore[misc]
        callback_policy=tenant_policy,
        line_policies={r[0]: r[4] for r in lines if r[4] is not None},
    )


class RoutingCache(TenantCache[RoutingSnapshot]):
    """This process's routing snapshots, per tenant; `forget` on every announced change."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessionmaker, load, PREFIX)

    async def roles(self, tenant_id: int) -> dict[int, str]:
        """The tenant's agents' roles (app/screen_pop/hub.py's `Roles`); from memory on the
        hot path, where routing has just read the snapshot."""
        return (await self.get(tenant_id)).roles


def message(tenant_id: int) -> str:
    """The invalidation that says a tenant's routing changed."""
    return f"{PREFIX}{tenant_id}"


async def announce(hub: ScreenPopHub, tenant_id: int) -> None:
    """Tell every process a tenant's routing changed; call after the change is committed."""
    await hub.broker.invalidate(message(tenant_id))


async def announce_from_outside(settings: Settings, tenant_id: int) -> bool:
    """From a process that serves nothing (the CLI): tell the servers through Redis.

    False without Redis: one embedded server then sees the change after a restart.
    """
    if not settings.redis_url:
        return False
    broker = make_broker(settings)
    try:
        await broker.invalidate(message(tenant_id))
    finally:
        await broker.stop()
    return True
