"""The credentials a cloud phone system needs to call back, kept write-only with its config.

They live in `provider_configs.options["originate"]` (app/calls/providers.py keeps that key
out of every answer and out of the webhook adapters), beside the webhook secret that some
vendors' APIs also take (Twilio's and Plivo's auth token).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.providers import ORIGINATE_OPTION
from app.errors import FieldProblem, InvalidInput, NotFound
from app.models import ProviderConfig
from telephony_adapters.registry import ORIGINATORS

# Asterisk and FreeSWITCH originate with the connector's own settings, from the environment.
CONNECTOR_SETTINGS = {
    "asterisk_ari": "STAMGAST_ARI_ORIGINATE_CONTEXT (and STAMGAST_ARI_ORIGINATE_ENDPOINT)",
    "freeswitch": "STAMGAST_ESL_ORIGINATE_CALLEE (and STAMGAST_ESL_ORIGINATE_AGENT)",
}


def public_base(row: ProviderConfig, public_base_url: str | None) -> str:
    """Where the vendor reaches us (its config's public_base_url, else the app's); "" if unknown."""
    base = (row.options or {}).get("public_base_url") or public_base_url or ""
    return str(base).rstrip("/")


def stored(row: ProviderConfig) -> dict[str, str]:
    """The stored credentials for calling back (empty when none)."""
    value = (row.options or {}).get(ORIGINATE_OPTION)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


async def _config(session: AsyncSession, *, tenant_id: int, provider: str) -> ProviderConfig:
    row = await session.scalar(
        select(ProviderConfig).where(
            ProviderConfig.tenant_id == tenant_id, ProviderConfig.provider == provider
        )
    )
    if row is None:
        raise NotFound(
            f"{provider} is not connected to this tenant: PUT /v1/providers/{provider} first."
        )
    return row


def _originator_for(provider: str) -> None:
    if provider in CONNECTOR_SETTINGS:
        raise InvalidInput(
            f"{provider} calls back with the connector's settings from the environment: "
            f"set {CONNECTOR_SETTINGS[provider]}."
        )
    if provider not in ORIGINATORS:
        can = ", ".join(sorted({*ORIGINATORS, *CONNECTOR_SETTINGS}))
        raise InvalidInput(
            f"Calling back is not supported through {provider}; it is through {can}."
        )


async def save(
    session: AsyncSession,
    *,
    tenant_id: int,
    provider: str,
    credentials: dict[str, str],
    public_base_url: str | None,
) -> list[str]:
    """Check and store the credentials; the names stored (never the values)."""
    _originator_for(provider)
    row = await _config(session, tenant_id=tenant_id, provider=provider)
    if provider == "plivo" and not public_base(row, public_base_url):
        raise InvalidInput(
            "Plivo fetches what to dial from Stamgast when the agent answers: set "
            "STAMGAST_PUBLIC_BASE_URL, or the option public_base_url of this provider."
        )
    originator = ORIGINATORS[provider]
    unknown = sorted(set(credentials) - set(originator.credential_names))
    problems = [
        FieldProblem(field=f"credentials.{name}", message=f"not a {provider} credential")
        for name in unknown
    ]
    problems += [
        FieldProblem(field=f"credentials.{_named(problem)}", message=problem)
        for problem in originator.check_credentials(credentials)
    ]
    if problems:
        expected = ", ".join(originator.credential_names)
        raise InvalidInput(
            f"The {provider} credentials for calling back are not usable (expected: {expected}): "
            + "; ".join(problem.message for problem in problems),
            code="validation_failed",
            fields=problems,
        )
    kept = {name: credentials[name].strip() for name in originator.credential_names}
    row.options = {**(row.options or {}), ORIGINATE_OPTION: kept}
    await session.flush()
    return sorted(kept)


def _named(problem: str) -> str:
    """The credential a problem line names (`name` in backticks opens every line)."""
    return problem.split("`")[1] if problem.startswith("`") else "credentials"


async def remove(session: AsyncSession, *, tenant_id: int, provider: str) -> bool:
    """Forget the credentials; False when none were stored."""
    row = await _config(session, tenant_id=tenant_id, provider=provider)
    if ORIGINATE_OPTION not in (row.options or {}):
        return False
    row.options = {k: v for k, v in row.options.items() if k != ORIGINATE_OPTION}
    await session.flush()
    return True
