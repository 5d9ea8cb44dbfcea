"""Which phone systems' event streams to connect to, read from the environment (STAMGAST_).

A connector runs when its address is set (`STAMGAST_ARI_URL`, `STAMGAST_AMI_HOST`,
`STAMGAST_ESL_HOST`); it then needs its credentials and the tenant the calls are for,
or the app refuses to start (a half-configured connector would fail silently).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConnectorSettings(BaseSettings):
    """Addresses, credentials and tenants of the event streams; retry and keepalive timing."""

    model_config = SettingsConfigDict(env_prefix="STAMGAST_", env_file=".env", extra="ignore")

    ari_url: str | None = Field(default=None, description="Asterisk HTTP server, ws://pbx:8088.")
    ari_app: str = Field(default="stamgast", description="ARI application name to subscribe as.")
    ari_user: str | None = None
    ari_password: SecretStr | None = None
    ari_tenant: str | None = Field(default=None, description="Slug of the tenant for ARI calls.")
    ari_subscribe_all: bool = Field(
        default=True, description="Hear every channel (listen only) rather than only Stasis."
    )
    ari_originate_context: str | None = Field(
        default=None,
        description="Dialplan context that dials a callee's E.164 number for a call back "
        "from the widget; unset: Asterisk does not originate.",
    )
    ari_originate_endpoint: str = Field(
        default="PJSIP/{extension}", description="The agent's channel for a call back."
    )

    ami_host: str | None = Field(default=None, description="Asterisk manager host.")
    ami_port: int = 5038
    ami_user: str | None = None
    ami_secret: SecretStr | None = None
    ami_tenant: str | None = Field(default=None, description="Slug of the tenant for AMI calls.")

    esl_host: str | None = Field(default=None, description="FreeSWITCH event socket host.")
    esl_port: int = 8021
    esl_password: SecretStr | None = None
    esl_tenant: str | None = Field(default=None, description="Slug of the tenant for ESL calls.")
    esl_originate_agent: str = Field(
        default="user/{extension}", description="The agent's dial string for a call back."
    )
    esl_originate_callee: str | None = Field(
        default=None,
        description="Dial string for the callee of a call back, e.g. sofia/gateway/out/{number}; "
        "unset: FreeSWITCH does not originate.",
    )

    connector_backoff_initial_seconds: float = Field(default=1.0, gt=0)
    connector_backoff_max_seconds: float = Field(default=60.0, gt=0)
    connector_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    connector_idle_seconds: float = Field(
        default=30.0, gt=0, description="Silence before a keepalive probe; twice this = dead."
    )
    connector_outbox_size: int = Field(
        default=10_000, gt=0, description="Event batches kept while the database is down."
    )
    connector_internal_max_digits: int = Field(
        default=6,
        ge=0,
        description="Caller IDs this short are extensions: their calls are skipped.",
    )

    @model_validator(mode="after")
    def _complete(self) -> ConnectorSettings:
        required = {
            "ARI": (self.ari_url, {"ARI_USER": self.ari_user, "ARI_PASSWORD": self.ari_password,
                                   "ARI_TENANT": self.ari_tenant}),
            "AMI": (self.ami_host, {"AMI_USER": self.ami_user, "AMI_SECRET": self.ami_secret,
                                    "AMI_TENANT": self.ami_tenant}),
            "ESL": (self.esl_host, {"ESL_PASSWORD": self.esl_password,
                                    "ESL_TENANT": self.esl_tenant}),
        }  # fmt: skip
        missing = [
            f"STAMGAST_{name}"
            for address, fields in required.values()
            if address
            for name, value in fields.items()
            if value is None or (isinstance(value, str) and not value.strip())
        ]
        if missing:
            raise ValueError(f"connector settings incomplete, set: {', '.join(missing)}")
        return self
