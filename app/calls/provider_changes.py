"""Telling every process that a tenant's phone-system configuration changed.

Webhooks find their tenant's provider config in the ProviderDirectory cache, without a
query. A change (PUT/DELETE /v1/providers, PATCH /v1/tenant, the demo seed) is committed
first, then announced as an invalidation on the screen-pop broker, as revocations are
(app/auth/revocation.py): every process that hears it forgets the entry, this one at once,
the others as soon as Redis carries it. One that is not heard (a row changed by hand, the
CLI without Redis) takes effect within the cache's TTL (providers.CACHE_SECONDS); a
listener that may have missed some (Redis reconnected) expires everything it cached.

Wire format: `provider:<tenant slug>:<provider>` for one phone system of a tenant,
`tenant:<tenant slug>` for all of them (the tenant's own settings changed).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.calls.providers import ProviderDirectory
from app.screen_pop.broker import INVALIDATE_ALL, InvalidationHandler, make_broker
from app.screen_pop.hub import ScreenPopHub
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """A tenant's config for one provider, or for every provider (`provider` None)."""

    tenant_slug: str
    provider: str | None = None

    def encode(self) -> str:
        """The invalidation message."""
        if self.provider is None:
            return f"tenant:{self.tenant_slug}"
        return f"provider:{self.tenant_slug}:{self.provider}"

    @classmethod
    def parse(cls, message: str) -> ConfigChanged | None:
        """The change a message names; None for anything else (a revocation)."""
        kind, _, rest = message.partition(":")
        if kind == "tenant" and rest:
            return cls(rest)
        slug, _, provider = rest.partition(":")
        if kind == "provider" and slug and provider:
            return cls(slug, provider)
        return None


def listener(directory: ProviderDirectory) -> InvalidationHandler:
    """What a serving process does with an invalidation: forget the changed config."""

    def on_invalidation(message: str) -> None:
        if message == INVALIDATE_ALL:
            directory.expire_all()
            return
        changed = ConfigChanged.parse(message)
        if changed is None:
            return  # another kind of invalidation, not ours
        if changed.provider is None:
            directory.forget_tenant(changed.tenant_slug)
        else:
            directory.forget(changed.tenant_slug, changed.provider)

    return on_invalidation


async def announce(hub: ScreenPopHub, changed: ConfigChanged) -> None:
    """Tell every process (this one at once); call after the change is committed."""
    await hub.broker.invalidate(changed.encode())


async def announce_from_outside(settings: Settings, changed: ConfigChanged) -> bool:
    """From a process that serves nothing (the CLI): tell the servers through Redis.

    False without Redis: the servers then notice within their cache's TTL.
    """
    if not settings.redis_url:
        return False
    broker = make_broker(settings)
    try:
        await broker.invalidate(changed.encode())
    finally:
        await broker.stop()
    return True
