"""What the subscriptions API takes and shows. Secrets are shown once, when made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from app.subscriptions.events import EventType

DeliveryStatus = Literal["pending", "delivered", "dead"]


def _check_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc}): give e.g. https://crm.example.org/hooks") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            "must start with https:// (or http://), e.g. https://crm.example.org/hooks"
        )
    if not parts.hostname:
        raise ValueError("names no host: give e.g. https://crm.example.org/hooks")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not hold credentials (user:password@): receivers verify our signature "
            "instead; put a token in a query parameter if the receiver needs one"
        )
    if parts.fragment:
        raise ValueError("must not have a #fragment: it is never sent")
    return value


def _unique(types: list[EventType]) -> list[EventType]:
    if len(set(types)) != len(types):
        raise ValueError("names an event type twice: list each once")
    return types


Url = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_check_url)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=20), AfterValidator(_unique)]


class SubscriptionIn(BaseModel):
    """A receiver and the events it wants; the secret is made for it and shown once."""

    url: Url = Field(description="Where events are POSTed (http or https)")
    event_types: EventTypes = Field(description="The event types to send")
    description: str | None = Field(default=None, max_length=200)
    enabled: bool = Field(default=True, description="False holds events until enabled again")


class SubscriptionPatch(BaseModel):
    """The fields to change; the others stay."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    """A subscription, without its secrets."""

    id: int
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries carry a signature with the previous secret too"
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    """The new subscription and its signing secret, shown this once."""

    secret: str = Field(description="The Standard Webhooks secret (whsec_…): store it now")


class SecretRotated(BaseModel):
    """The new secret (shown this once); the old one keeps signing until the time given."""

    secret: str
    previous_secret_expires_at: datetime


class AttemptOut(BaseModel):
    """One try at delivering an event."""

    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    """An event for this subscription and how its delivery stands."""

    id: int
    message_id: str = Field(description="Its `webhook-id`, the same on every try")
    type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending")
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    log: list[AttemptOut]


class PingQueued(BaseModel):
    """A `ping` event queued for delivery; follow it in the delivery log."""

    delivery_id: int
    message_id: str
