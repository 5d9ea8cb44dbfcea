"""Which phone systems each tenant has connected, cached so a ringing phone waits on no query."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import ProviderConfigIn
from app.errors import InvalidInput
from app.models import ProviderConfig, Tenant
from app.phone import ExtensionPlan, ExtensionPlanError
from telephony_adapters.base import AdapterConfig, EventKind
from telephony_adapters.registry import ADAPTERS, OPTION_CHECKS


@dataclass(frozen=True, slots=True)
class TenantProvider:
    """A tenant's view of one connected phone system, ready for its adapter."""

    tenant_id: int
    tenant_slug: str
    region: str
    timezone: str
    enabled: bool
    config: AdapterConfig
    extensions: ExtensionPlan | None = None


# Every change made through Stamgast is announced and forgets the entry in every process at
# once (app/calls/provider_changes.py), so the TTL is only a safety net for what is not
# announced: a row edited by hand, the CLI changing a database whose server shares no Redis
# with it. Five minutes bounds that staleness, and still costs one query per connected
# phone system per five minutes (nothing, at any call rate).
CACHE_SECONDS = 300.0


class ProviderDirectory:
    """Looks up (tenant slug, provider) → config, trusting an answer for `ttl_seconds`."""

    def __init__(
        self, ttl_seconds: float = CACHE_SECONDS, public_base_url: str | None = None
    ) -> None:
        self._ttl = ttl_seconds
        self._public_base_url = public_base_url
        self._cache: dict[tuple[str, str], tuple[float, TenantProvider | None]] = {}
        # Bumped by every forget: a lookup that read the database before a change was
        # announced must not put what it read back in the cache after the announcement.
        self._generation = 0

    @property
    def public_base_url(self) -> str | None:
        """The URL vendors reach us at, when configured (for responses that name it)."""
        return self._public_base_url

    def forget(self, tenant_slug: str, provider: str) -> None:
        """Drop a cached entry after the config changed."""
        self._generation += 1
        self._cache.pop((tenant_slug, provider), None)

    def forget_tenant(self, tenant_slug: str) -> None:
        """Drop every cached entry of a tenant after its own settings changed."""
        self._generation += 1
        for key in [key for key in self._cache if key[0] == tenant_slug]:
            del self._cache[key]

    def expire_all(self) -> None:
        """Trust nothing cached any more (changes may have been announced unheard).

        Entries are marked expired rather than dropped, as the TTL expires them: the next
        webhook reads the database again, and in an outage the last config seen still
        checks signatures.
        """
        self._generation += 1
        self._cache = {key: (-math.inf, found) for key, (_at, found) in self._cache.items()}

    def cached(self, tenant_slug: str, provider: str) -> tuple[bool, TenantProvider | None]:
        """(True, the config or None when not connected) while trusted; (False, None): `find`."""
        cached = self._cache.get((tenant_slug, provider))
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return True, cached[1]
        return False, None

    async def find(
        self, session: AsyncSession, tenant_slug: str, provider: str
    ) -> TenantProvider | None:
        """The tenant's config for this provider, or None when not connected."""
        key = (tenant_slug, provider)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        generation = self._generation
        try:
            row = (
                await session.execute(
                    select(Tenant, ProviderConfig)
                    .join(ProviderConfig, ProviderConfig.tenant_id == Tenant.id)
                    .where(Tenant.slug == tenant_slug, ProviderConfig.provider == provider)
                )
            ).first()
        except Exception:
            # The database is away: the last config we saw still checks signatures, so an
            # outage does not turn us into an inbox that keeps whatever anyone sends.
            if cached is not None and cached[1] is not None:
                return cached[1]
            raise
        found = None if row is None else self._to_tenant_provider(row[0], row[1])
        if generation != self._generation:
            return found  # read before a change was announced: answer, do not keep
        if len(self._cache) > 10_000:
            # Keep the connected tenants (their secrets matter in an outage); drop the misses.
            self._cache = {k: v for k, v in self._cache.items() if v[1] is not None}
            if len(self._cache) > 10_000:
                self._cache.clear()
        self._cache[key] = (now, found)
        return found

    def _to_tenant_provider(self, tenant: Tenant, config: ProviderConfig) -> TenantProvider:
        events = frozenset(EventKind(e) for e in config.events) if config.events else None
        base = config.options.get("public_base_url") or self._public_base_url
        return TenantProvider(
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            region=tenant.default_region,
            timezone=tenant.timezone,
            enabled=config.enabled,
            extensions=_extension_plan(tenant),
            config=AdapterConfig(
                secret=config.secret,
                public_base_url=base,
                events=events,
                options=public_options(config.options),
            ),
        )


def _extension_plan(tenant: Tenant) -> ExtensionPlan | None:
    try:
        return ExtensionPlan.parse(tenant.extension_plan)
    except ExtensionPlanError:
        # Only valid plans are stored; one edited in the database by hand must not stop calls.
        return None


# Phone systems we connect to ourselves (their event streams), rather than receive from.
CONNECTOR_PROVIDERS = frozenset({"asterisk_ari", "asterisk_ami", "freeswitch"})
# Phone systems with endpoints of their own shape (3CX's CRM template calls us).
INTEGRATION_PROVIDERS = frozenset({"threecx"})


# Formats whose secret the tenant makes up: a short one would be guessable. Vendors' own
# secrets are taken as issued (Placetel's documented example secret is 5 characters).
OWN_SECRET_PROVIDERS = frozenset({"generic", "kamailio", "zammad_cti", "amazon_connect", "threecx"})
MIN_OWN_SECRET = 8


def check_secret(provider: str, secret: str) -> None:
    """Refuse a blank secret, and a short one where the tenant chose it."""
    if not secret.strip():
        raise InvalidInput("`secret` is blank: paste the secret the phone system signs with.")
    if provider in OWN_SECRET_PROVIDERS and len(secret) < MIN_OWN_SECRET:
        raise InvalidInput(
            f"`secret` for {provider} is a secret you choose: use at least {MIN_OWN_SECRET} "
            "characters, e.g. the output of `openssl rand -hex 16`."
        )


# Where the write-only credentials for calling back live in `options` (app/callbacks/
# originate_credentials.py): never shown, never handed to the webhook adapters.
ORIGINATE_OPTION = "originate"


def public_options(options: Mapping[str, object]) -> dict[str, str]:
    """The vendor options as shown and as adapters read them: without the originate secrets."""
    return {str(k): str(v) for k, v in options.items() if k != ORIGINATE_OPTION}


def check_options(provider: str, options: Mapping[str, str]) -> None:
    """Refuse vendor options that would hurt callers (a Twilio setup that hangs up on them)."""
    if ORIGINATE_OPTION in options:
        raise InvalidInput(
            f"`options.{ORIGINATE_OPTION}` is reserved: set the credentials for calling back "
            f"with PUT /v1/providers/{provider}/originate."
        )
    check = OPTION_CHECKS.get(provider)
    problems = check(options) if check is not None else []
    if problems:
        raise InvalidInput(f"`options` for {provider}: " + "; ".join(problems) + ".")


def check_provider_name(provider: str) -> None:
    """Refuse a provider we have no adapter or connector for, listing the ones we have."""
    known_names = {*ADAPTERS, *CONNECTOR_PROVIDERS, *INTEGRATION_PROVIDERS}
    if provider not in known_names:
        known = ", ".join(sorted(known_names))
        raise InvalidInput(f"Unknown provider {provider!r}: choose one of {known}.")


async def list_configs(session: AsyncSession, *, tenant_id: int) -> list[ProviderConfig]:
    """Every phone system this tenant connected."""
    result = await session.scalars(
        select(ProviderConfig)
        .where(ProviderConfig.tenant_id == tenant_id)
        .order_by(ProviderConfig.provider)
    )
    return list(result)


async def upsert_config(
    session: AsyncSession, *, tenant_id: int, provider: str, data: ProviderConfigIn
) -> ProviderConfig:
    """Connect a phone system, or change its secret and settings."""
    check_provider_name(provider)
    check_secret(provider, data.secret)
    check_options(provider, data.options)
    row = await session.scalar(
        select(ProviderConfig).where(
            ProviderConfig.tenant_id == tenant_id, ProviderConfig.provider == provider
        )
    )
    if row is None:
        row = ProviderConfig(tenant_id=tenant_id, provider=provider, secret=data.secret)
        session.add(row)
    row.secret = data.secret
    row.enabled = data.enabled
    row.events = list(data.events)
    kept = row.options.get(ORIGINATE_OPTION) if row.options else None
    row.options = dict(data.options) | ({} if kept is None else {ORIGINATE_OPTION: kept})
    await session.flush()
    return row


async def delete_config(session: AsyncSession, *, tenant_id: int, provider: str) -> bool:
    """Disconnect a phone system; False when it was not connected."""
    row = await session.scalar(
        select(ProviderConfig).where(
            ProviderConfig.tenant_id == tenant_id, ProviderConfig.provider == provider
        )
    )
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True
