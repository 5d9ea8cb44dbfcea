"""What a card leaves out for a role that does not see sensitive fields (app/auth/roles.py).

Role `agent` (the front desk) gets the card without the contact's `notes` (null) and
without the notices marked `sensitive` (left out of `notices`); `masked` names each of the
two that held something, so the widget can say "hidden" without showing what. Nothing is
named when there was nothing to leave out: an agent then knows there is nothing to ask a
supervisor about. Everything else on the card is the same for every role.

Two forms of the same rule: the card as plain data (the hot path's pops, serialised once
per role) and as the API's model.
"""

from __future__ import annotations

from typing import Any

from app.recognition.schemas import Card, MaskedField


def masked_data(card: dict[str, Any]) -> dict[str, Any]:
    """A masked copy of a card as plain data (`hot_card.Card`); the card is not changed."""
    hidden: list[MaskedField] = []
    masked = dict(card)
    if card.get("notes") is not None:
        masked["notes"] = None
        hidden.append("notes")
    notices = card.get("notices") or []
    shown = [notice for notice in notices if not notice.get("sensitive")]
    if len(shown) != len(notices):
        masked["notices"] = shown
        hidden.append("notices")
    masked["masked"] = hidden
    return masked


def masked_card(card: Card) -> Card:
    """A masked copy of a card model; the card is not changed."""
    hidden: list[MaskedField] = []
    update: dict[str, Any] = {}
    if card.notes is not None:
        update["notes"] = None
        hidden.append("notes")
    shown = [notice for notice in card.notices if not notice.sensitive]
    if len(shown) != len(card.notices):
        update["notices"] = shown
        hidden.append("notices")
    update["masked"] = hidden
    return card.model_copy(update=update)


def card_for(card: Card, *, sees_sensitive: bool) -> Card:
    """The card as a reader sees it."""
    return card if sees_sensitive else masked_card(card)
