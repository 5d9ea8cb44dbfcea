"""Revoking a credential everywhere at once: API keys, agent tokens, agents.

A revocation is committed to the database first, then announced. The announcement is an
invalidation on the screen-pop broker: every process that hears it drops the credential
from its KeyVerifier cache and ends the streams opened with it, the announcing process at
once, the others as soon as Redis carries it (the embedded broker has no others). One
that is not heard (a row changed by hand, `stamgast revoke-api-key` without Redis, Redis
away) takes effect within `api_key_cache_seconds` on REST and the streams' recheck.

Wire format: `<kind>:<tenant id>:<id>`, e.g. `api_key:3:17`; `agent_token` ids are token
ids, `agent` ids agent ids (made inactive or deleted: all of its tokens). `agent_role` (an
agent id) revokes nothing: the agent's role changed, so the principals cached for its
tokens are forgotten; its streams stay open, and routing (which carries the role) gives
their next pop the new role's card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, get_args

from app.auth.keys import KeyVerifier
from app.screen_pop.broker import INVALIDATE_ALL, InvalidationHandler, make_broker
from app.screen_pop.hub import ScreenPopHub
from app.settings import Settings

logger = logging.getLogger(__name__)

Kind = Literal["api_key", "agent_token", "agent", "agent_role"]
_KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True)
class Revoked:
    """One credential (or every credential of one agent) that no longer admits anyone."""

    kind: Kind
    tenant_id: int
    id: int

    def encode(self) -> str:
        """The invalidation message."""
        return f"{self.kind}:{self.tenant_id}:{self.id}"

    @classmethod
    def parse(cls, message: str) -> Revoked | None:
        """The revocation a message names; None for anything else."""
        kind, _, rest = message.partition(":")
        tenant, _, id_ = rest.partition(":")
        if kind not in _KINDS or not tenant.isdigit() or not id_.isdigit():
            return None
        return cls(kind, int(tenant), int(id_))  # type: ignore[arg-type]


def listener(verifier: KeyVerifier, hub: ScreenPopHub) -> InvalidationHandler:
    """What a serving process does with an invalidation: forget, and end streams."""

    def on_invalidation(message: str) -> None:
        if message == INVALIDATE_ALL:
            verifier.clear()
            return
        revoked = Revoked.parse(message)
        if revoked is None:
            return  # another kind of invalidation, not ours
        if revoked.kind == "api_key":
            verifier.forget(tenant_id=revoked.tenant_id, key_id=revoked.id)
        elif revoked.kind == "agent_token":
            # An agent token's principal carries minus the token id (see _agent_principal).
            verifier.forget(tenant_id=revoked.tenant_id, key_id=-revoked.id)
            hub.revoke_token(revoked.id)
        elif revoked.kind == "agent_role":
            verifier.forget(tenant_id=revoked.tenant_id, agent_id=revoked.id)
        else:
            verifier.forget(tenant_id=revoked.tenant_id, agent_id=revoked.id)
            hub.revoke_agent(revoked.tenant_id, revoked.id)

    return on_invalidation


async def announce(hub: ScreenPopHub, revoked: Revoked) -> None:
    """Tell every process (this one at once); call after the revocation is committed."""
    await hub.broker.invalidate(revoked.encode())


async def announce_from_outside(settings: Settings, revoked: Revoked) -> bool:
    """From a process that serves nothing (the CLI): tell the servers through Redis.

    False without Redis: the servers then notice within their cache time.
    """
    if not settings.redis_url:
        return False
    broker = make_broker(settings)
    try:
        await broker.invalidate(revoked.encode())
    finally:
        await broker.stop()
    return True
