"""A pop as each role sees it: serialised once per view present, never per agent.

Roles `supervisor` and `admin` see the whole card; role `agent` sees it masked
(app/recognition/masking.py). So a pop has at most two bodies, and only one when its card
holds nothing to mask (most cards: no notes, no sensitive notice) or when every recipient
has the same view. The agents' roles come from routing (app/calls/routing_cache.py), in
memory: picking an agent's body is a dictionary lookup, and a role change announced like
any directory change applies to the agent's next pop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from app.auth.roles import sees_sensitive
from app.screen_pop.broker import Audience, unique_agents
from app.screen_pop.schemas import Pop

logger = logging.getLogger(__name__)

# The tenant's agents' roles, by agent id.
Roles = Callable[[int], Awaitable[Mapping[int, str]]]


async def no_roles(tenant_id: int) -> Mapping[int, str]:
    """No roles known: every agent gets the masked view (the least role's)."""
    return {}


async def roles_or_none(roles: Roles, tenant_id: int) -> Mapping[int, str]:
    """The roles; none (everyone masked) when they cannot be read now: the pop still
    reaches every agent at once, and shows no more than the least role sees."""
    try:
        return await roles(tenant_id)
    except Exception:
        logger.exception("screen-pop: roles of tenant %s unreadable; pop masked for all", tenant_id)
        return {}


def audiences(pop: Pop, agent_ids: Sequence[int], roles: Mapping[int, str]) -> list[Audience]:
    """The pop's bodies and who gets each: one for those who see everything, one masked."""
    agents = unique_agents(agent_ids)
    full = pop.model_dump_json().encode()
    masked_pop = pop.masked()
    if masked_pop is None:
        return [(agents, full)] if agents else []
    seeing = [a for a in agents if sees_sensitive(roles.get(a, ""))]
    others = [a for a in agents if not sees_sensitive(roles.get(a, ""))]
    groups: list[Audience] = []
    if seeing:
        groups.append((seeing, full))
    if others:
        groups.append((others, masked_pop.model_dump_json().encode()))
    return groups
