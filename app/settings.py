"""Process settings, read from the environment with the prefix STAMGAST_."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; defaults give the embedded single-process setup."""

    model_config = SettingsConfigDict(env_prefix="STAMGAST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{Path('stamgast.db').resolve()}",
        description="SQLAlchemy async URL; sqlite+aiosqlite (default) or postgresql+asyncpg.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for cross-process screen-pops; unset = in-process."
    )
    default_region: str = Field(default="NL", description="Region for new tenants' numbers.")
    host: str = "127.0.0.1"
    port: int = 8000
    webhook_budget_seconds: float = Field(
        default=1.0, description="A webhook answers within this time, whatever fails behind it."
    )
    webhook_max_body_bytes: int = 64 * 1024
    metrics_enabled: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics (false: 404)."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics requires `Authorization: Bearer <token>`; unset: open "
        "(reachable by whoever reaches the port: restrict it at the proxy or set this).",
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="The largest /v1 request body accepted (413 beyond); the largest valid "
        "contact, with every field at its length limit, is about 120 KB.",
    )
    call_ringing_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A call still ringing (or held by an IVR) this long after it began has "
        "lost its final event: it is closed as missed.",
    )
    call_answered_timeout_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="An answered call with no final event this long after it began is closed.",
    )
    call_sweep_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often calls without a final event are looked for."
    )
    callback_escalation_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often open callback requests past their due time are looked for and "
        "escalated (once each: a notice to the line's team and a `callback.overdue` event).",
    )
    retention_purge: bool = Field(
        default=True,
        description="Purge what each tenant keeps no longer (its retention periods, "
        "PATCH /v1/tenant) in this process, once per `retention_purge_interval_hours`; off "
        "when an external scheduler runs `stamgast purge`.",
    )
    retention_purge_interval_hours: float = Field(
        default=24.0, gt=0, description="How often the in-process purge runs."
    )
    stats_flush_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often this process adds its ring-to-pop tally (per line and hour, "
        "for the dashboard) to the database, in one statement.",
    )
    event_delivery: bool = Field(
        default=True,
        description="Run this process's outbound-event worker (every process may: they never "
        "send the same event at once).",
    )
    event_delivery_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long a subscriber may take to answer."
    )
    event_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long an event being sent is reserved for its worker; one whose "
        "process died is sent again after this (at least the timeout plus 5 s).",
    )
    event_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the worker looks for due events."
    )
    public_base_url: str | None = Field(
        default=None, description="Public URL vendors use to reach us (for signature checks)."
    )
    replay_window_seconds: int = Field(default=600, description="How far back pops replay.")
    stream_queue_size: int = Field(default=256, description="Pops buffered per connection.")
    stream_token_recheck_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often an open agent stream checks its token is still valid; a "
        "revoked token's streams end at once in the process that revoked it, within this "
        "time in the others.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a verified API key or agent token is trusted without a query. "
        "Revocations through the API end that trust at once (in every process, with Redis); "
        "this bounds the rest: a row changed by hand, the CLI without Redis.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Web apps allowed to embed the widget and call the API from a browser, "
        'e.g. ["https://crm.example.org"]; empty allows only our own origin.',
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where derived data is kept (the place-name index, built once); "
        "unset: $XDG_CACHE_HOME/stamgast or ~/.cache/stamgast.",
    )
    spool_path: Path | None = Field(
        default=None,
        description="The durable inbox for webhooks answered but not yet recorded (a local "
        "SQLite file); unset: next to a SQLite database, or in the cache directory.",
    )
    spool_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Failures with the database up before a held webhook goes to the dead letters.",
    )
    api_rate_limit: str = Field(
        default="1200/minute",
        description="Requests one API key or agent token may make to /v1 (all processes "
        "together with Redis), e.g. 600/minute or 20/second; 0 or empty: no limit. 20 a "
        "second on average: a widget makes a few per call, a CRM sync a few per second.",
    )
    api_anonymous_rate_limit: str = Field(
        default="300/minute",
        description="Requests to /v1 from one client address without a valid key or token "
        "(missing, unknown, revoked), checked before a key is looked up: guessing is slowed "
        "and a flood costs no query. A valid key is never counted here, but one not used in "
        "the last few seconds waits too while its address is over. 0 or empty: no limit.",
    )
    webhook_rate_limit: str = Field(
        default="6000/minute",
        description="Webhooks from one address to one tenant's provider whose signature is "
        "wrong or missing; past it they are answered 429. Correctly signed webhooks are never "
        "counted nor refused (a phone system at 200 calls/s, 3 events each, sends 36,000 a "
        "minute). 0 or empty: no limit.",
    )
    sources_deadline_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description="How long a pop or lookup of a number not known here waits for the "
        "tenant's lookup sources; what answers later updates the card in the widget.",
    )
    originate_api_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Vendor API base URLs for calling back, per provider, where not the "
        'vendor\'s default: e.g. {"vonage": "https://api-eu.vonage.com", "twilio": '
        '"https://api.dublin.ie1.twilio.com"} to keep calls in a region.',
    )
    originate_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a call back waits for the vendor."
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="Log lines as `json` (one object a line, for a log collector), `text` "
        "(for a person), or `auto`: JSON unless the output is a terminal. Applies to "
        "`stamgast serve` and the container's command (uvicorn --log-config "
        "app/telemetry/logging.json).",
    )

    @field_validator("api_rate_limit", "api_anonymous_rate_limit", "webhook_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip() not in ("", "0"):
            try:
                parse(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit: write it as <count>/<unit>, e.g. "
                    "600/minute, 20/second or 10000/hour; 0 for none"
                ) from None
        return value

    def cache_directory(self) -> Path:
        """`cache_dir`, or the user's cache ($XDG_CACHE_HOME/stamgast, ~/.cache/stamgast)."""
        if self.cache_dir is not None:
            return self.cache_dir
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "stamgast"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache when they change env)."""
    return Settings()
