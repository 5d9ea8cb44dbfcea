"""The outbound events in the OpenAPI document, as OpenAPI 3.1 `webhooks`: what a
subscriber receives, with the payload's schema per event type. Documentation only: the
worker sends the bodies `events` builds, and tests/test_subscriptions.py checks they fit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field, create_model

from app.subscriptions.events import PING

_HEADERS = (
    "Signed per Standard Webhooks: `webhook-id` (the same on every try: deduplicate on it), "
    "`webhook-timestamp` and `webhook-signature` (`v1,<base64>`; two during a secret "
    "rotation). Verify with the `standardwebhooks` library and the subscription's secret. "
    "Answer any 2xx within the timeout; anything else is tried again for over 24 hours."
)


class CallDetails(BaseModel):
    """The call as Stamgast stores it at the moment of the event."""

    id: int
    provider: str
    provider_call_id: str
    direction: Literal["inbound", "outbound", "internal"]
    state: Literal["ringing", "answered", "ended", "missed", "voicemail"]
    from_e164: str | None
    to_e164: str | None
    line_id: int | None
    ringing_extension: str | None
    answered_by: str | None
    answered_by_agent_id: int | None
    contact_id: int | None
    match: str = Field(description="known, ambiguous, unknown or withheld")
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    interaction_id: int | None = Field(description="The call's interaction, once it ended")
    callback_request_id: int | None = Field(description="The request a missed call opened")


class RecognisedContact(BaseModel):
    """Whom the card says is calling."""

    id: int | None
    display_name: str | None
    language: str | None
    match: str


class CallData(BaseModel):
    """A call event's data."""

    call: CallDetails


class RecognisedData(CallData):
    """`call.recognised`'s data: the call and the contact."""

    contact: RecognisedContact


def _envelope(type_: str, data: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in type_.replace(".", "_").split("_")) + "Event"
    fields: dict[str, Any] = {
        "type": (Literal[type_], ...),  # type: ignore[valid-type]
        "timestamp": (datetime, Field(description="When it happened")),
        "data": (data, ...),
    }
    return create_model(name, __doc__=f"The `{type_}` event's body.", **fields)


class WrappedUpData(CallData):
    """`call.wrapped_up`'s data: the call and its interaction as the wrap-up left it
    (`events.WRAP_UP_FIELDS`): a call journal entry for a CRM."""

    interaction: dict[str, Any]


class PingData(BaseModel):
    """A test event's data."""

    subscription_id: int


class CallbackData(BaseModel):
    """A callback request as stored (`events.CALLBACK_FIELDS`)."""

    callback: dict[str, Any]


class InteractionData(BaseModel):
    """An interaction as stored (`events.INTERACTION_FIELDS`)."""

    interaction: dict[str, Any]


class ContactData(BaseModel):
    """The changed contact (`events.CONTACT_FIELDS`): fetch it for the rest."""

    contact: dict[str, Any]


CALL_EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "call.ringing": (CallData, "A call started ringing (inbound, or one of ours going out)."),
    "call.recognised": (RecognisedData, "The ringing call's caller is a known contact."),
    "call.answered": (CallData, "A person answered the call."),
    "call.ended": (CallData, "A call that was answered has ended."),
    "call.missed": (
        CallData,
        "An inbound call ended with nobody answering (`state` voicemail: a message was left).",
    ),
    "call.wrapped_up": (
        WrappedUpData,
        "An agent wrapped up a call (outcome, note, satisfaction, helped): post it to a CRM's "
        "journal.",
    ),
    "call.surveyed": (
        WrappedUpData,
        "The caller's post-call survey score (1-5) was attached to the call's interaction "
        "(`interaction.survey_score`): once per call, a repeated score sends nothing.",
    ),
    "callback.created": (CallbackData, "A callback request was made through the API."),
    "callback.done": (CallbackData, "A callback request was marked done."),
    "callback.overdue": (
        CallbackData,
        "An open callback request passed its due time (sent once per request; the line's "
        "team got a `callback.overdue` notice in the widget).",
    ),
    "interaction.created": (InteractionData, "An interaction was recorded through the API."),
    "contact.updated": (ContactData, "A contact was changed through the API."),
    PING: (PingData, "A test event, sent by `POST /v1/subscriptions/{id}/ping`."),
}


def document_events(app: FastAPI) -> None:
    """Add every event type to `app.webhooks`."""
    for type_, (data, summary) in CALL_EVENTS.items():
        model = _envelope(type_, data)

        async def receive(body: BaseModel) -> None:
            """Documentation only."""

        receive.__doc__ = _HEADERS
        receive.__annotations__ = {"body": model, "return": None}  # this event's own schema
        app.webhooks.post(
            type_,
            summary=summary,
            operation_id=f"event_{type_.replace('.', '_')}",
            status_code=204,
        )(receive)
