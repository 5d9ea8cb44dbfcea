"""How an admin connects a phone system to a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

EventName = Literal["ringing", "answered", "ended", "missed", "voicemail"]


class ProviderConfigIn(BaseModel):
    """The secret a phone system signs with, and what to accept from it."""

    secret: str = Field(
        min_length=1,
        max_length=4096,
        description="Shared secret, auth token or public key, as the phone system needs it "
        "(a secret you choose yourself, for our own formats, needs at least "
        "8 characters; a vendor's own is taken as the vendor issued it)",
    )
    enabled: bool = True
    events: list[EventName] = Field(
        default_factory=list, description="Event kinds to accept; empty accepts all"
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="Vendor options, e.g. twilio dial_target=sip:queue@pbx (with dial_answer, "
        "redirect_url, queue_name; see docs/twilio.md)",
    )


class ProviderConfigOut(BaseModel):
    """A connected phone system (its secret is never shown again)."""

    provider: str
    enabled: bool
    events: list[str]
    options: dict[str, str]
    webhook_url: str = Field(description="The URL to configure in the phone system")
    updated_at: datetime


# What an agent can say a call came to: the widget's wrap-up form offers these, in this
# order. The lifecycle's own outcomes (answered, missed, voicemail, not_reached) are not among
# them: an interaction carrying one of those is still the lifecycle's to revise.
WrapUpOutcome = Literal[
    "resolved", "information_given", "callback_planned", "referred", "complaint", "other"
]

# The wrap-up's "geholpen?": first-contact resolution counts a call as helped only when
# "resolved" and the caller did not call again about it.
Helped = Literal["resolved", "partly", "not"]


class WrapUpIn(BaseModel):
    """What the agent records when a call ends."""

    outcome: WrapUpOutcome = Field(
        examples=["resolved", "callback_planned"],
        description="What the call came to; a later wrap-up's outcome replaces an earlier one",
    )
    note: str = Field(
        default="",
        max_length=4000,
        description="Added to the interaction's summary; a later wrap-up's note is added "
        "after the earlier ones, never in their place",
    )
    satisfaction: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="The agent's view of how satisfied the caller was, 1 (not) to 5 (very)",
    )
    helped: Helped | None = Field(
        default=None,
        examples=["resolved"],
        description="Geholpen? Whether the caller was helped: resolved, partly or not; "
        "a later wrap-up's answer replaces an earlier one, leaving it out keeps it",
    )
    contact_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Who it really was, if the agent picked or created the contact",
    )


class WrapUpOut(BaseModel):
    """The interaction the wrap-up was saved into."""

    interaction_id: int
    contact_id: int | None
    summary: str
    outcome: str | None
    helped: Helped | None = None
