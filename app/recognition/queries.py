"""The two statements behind a card: the candidates, then everything about the top one.

Recognition runs while a phone rings, so the card is read with a fixed number of
statements whatever the caller's history: one for the contacts on the number, one
UNION ALL for their last interactions, open callbacks, open cases and notices.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import BindParameter, Label

from app.models import (
    Agent,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Notice,
    NumberChoice,
    ServiceProfile,
)
from app.models.base import UTCDateTime

LAST_INTERACTIONS = 5
MAX_CANDIDATES = 20
MAX_CALLBACKS = 20
MAX_CASES = 20
MAX_NOTICES = 20

CLOSED_CASE_STATUSES = ("closed",)


def _last_interaction_at() -> Any:
    return (
        select(func.max(Interaction.occurred_at))
        .where(Interaction.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )


@cache
def _candidates_statement() -> Select[Any]:
    last_at = _last_interaction_at().label("last_interaction_at")
    chosen = (NumberChoice.contact_id.is_not(None)).label("chosen_before")
    return (
        select(Contact, ServiceProfile, last_at, chosen)
        .join(ContactNumber, ContactNumber.contact_id == Contact.id)
        .outerjoin(ServiceProfile, ServiceProfile.contact_id == Contact.id)
        .outerjoin(
            NumberChoice,
            and_(
                NumberChoice.tenant_id == ContactNumber.tenant_id,
                NumberChoice.e164 == ContactNumber.e164,
                NumberChoice.contact_id == Contact.id,
            ),
        )
        .where(
            ContactNumber.tenant_id == bindparam("tenant_id"),
            ContactNumber.e164 == bindparam("key"),
        )
        .order_by(chosen.desc(), last_at.desc().nulls_last(), Contact.id)
        .limit(MAX_CANDIDATES)
    )


def candidates_for_number(tenant_id: int, key: str) -> tuple[Select[Any], dict[str, Any]]:
    """Contacts on a number with their profile, ranked: last chosen, then latest contact."""
    # Built once: constructing SQLAlchemy statements costs more than running them here.
    return _candidates_statement(), {"tenant_id": tenant_id, "key": key}


def contact_with_profile(tenant_id: int, contact_id: int) -> Select[Any]:
    """One contact with its profile, shaped like a candidate row."""
    return (
        select(Contact, ServiceProfile, _last_interaction_at(), false())
        .outerjoin(ServiceProfile, ServiceProfile.contact_id == Contact.id)
        .where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    )


def case_by_reference(tenant_id: int, reference: str) -> Select[Case]:
    """The case with this reference (trimmed, exact)."""
    return select(Case).where(Case.tenant_id == tenant_id, Case.reference == reference.strip())


def number_belongs_to(tenant_id: int, key: str, contact_id: int) -> Select[int]:
    """The id of the contact's number row for `key`, if it has one."""
    return select(ContactNumber.id).where(
        ContactNumber.tenant_id == tenant_id,
        ContactNumber.e164 == key,
        ContactNumber.contact_id == contact_id,
    )


def _row(
    kind: str,
    id_: Any,
    at: Any,
    due: Any = None,
    t1: Any = None,
    t2: Any = None,
    t3: Any = None,
    t4: Any = None,
    t5: Any = None,
    n: Any = None,
) -> list[Label[Any]]:
    # Every UNION branch has the same typed columns; NULLs are cast so PostgreSQL agrees.
    def text_col(value: Any, name: str) -> Label[Any]:
        return (cast(null(), Text) if value is None else cast(value, Text)).label(name)

    return [
        literal(kind, String).label("kind"),
        cast(id_, Integer).label("id"),
        # type_coerce, not CAST: SQLite would turn CAST(text AS DATETIME) into a number.
        type_coerce(at, UTCDateTime()).label("at"),
        (cast(null(), UTCDateTime()) if due is None else type_coerce(due, UTCDateTime())).label(
            "due"
        ),
        text_col(t1, "t1"),
        text_col(t2, "t2"),
        text_col(t3, "t3"),
        text_col(t4, "t4"),
        text_col(t5, "t5"),
        (cast(null(), Integer) if n is None else cast(n, Integer)).label("n"),
    ]


def card_details(
    *,
    tenant_id: int,
    contact_id: int | None,
    number_key: str | None,
    called_key: str | None,
    tags: list[str],
    now: datetime,
) -> tuple[CompoundSelect[Any], dict[str, Any]]:
    """One statement: last interactions, open callbacks, open cases and active notices."""
    statement = _card_details_statement(
        contact_id is not None, number_key is not None, called_key is not None, bool(tags)
    )
    params: dict[str, Any] = {"tenant_id": tenant_id, "now": now}
    if contact_id is not None:
        params["contact_id"] = contact_id
    if number_key is not None:
        params["number_key"] = number_key
    if called_key is not None:
        params["called_key"] = called_key
    if tags:
        params["tags"] = list(tags)
    return statement, params


@cache
def _card_details_statement(
    has_contact: bool, has_number: bool, has_called: bool, has_tags: bool
) -> CompoundSelect[Any]:
    # One statement per shape, built once; values are bound at execution.
    tenant_id: BindParameter[int] = bindparam("tenant_id")
    now = bindparam("now", type_=UTCDateTime())
    branches: list[Select[Any]] = []
    if has_contact:
        contact_id: BindParameter[int] = bindparam("contact_id")
        recent = (
            select(
                *_row(
                    "interaction",
                    Interaction.id,
                    Interaction.occurred_at,
                    None,
                    Interaction.channel,
                    Interaction.summary,
                    Interaction.outcome,
                    Agent.name,
                    Interaction.direction,
                )
            )
            .outerjoin(Agent, Agent.id == Interaction.agent_id)
            .where(Interaction.tenant_id == tenant_id, Interaction.contact_id == contact_id)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(LAST_INTERACTIONS)
            .subquery()
        )
        branches.append(select(recent))
        open_cases = (
            select(
                *_row(
                    "case",
                    Case.id,
                    Case.updated_at,
                    None,
                    Case.reference,
                    Case.kind,
                    Case.status,
                    Case.next_step,
                    None,
                    Case.position,
                )
            )
            .where(
                Case.tenant_id == tenant_id,
                Case.contact_id == contact_id,
                Case.status.not_in(CLOSED_CASE_STATUSES),
            )
            .order_by(Case.updated_at.desc())
            .limit(MAX_CASES)
            .subquery()
        )
        branches.append(select(open_cases))
    whose: list[ColumnElement[bool]] = []
    if has_contact:
        whose.append(CallbackRequest.contact_id == bindparam("contact_id"))
    if has_number:
        whose.append(CallbackRequest.number_e164 == bindparam("number_key"))
    if whose:
        callbacks = (
            select(
                *_row(
                    "callback",
                    CallbackRequest.id,
                    CallbackRequest.requested_at,
                    CallbackRequest.due_by,
                    CallbackRequest.reason,
                    CallbackRequest.status,
                    n=CallbackRequest.attempts,
                )
            )
            .where(
                CallbackRequest.tenant_id == tenant_id,
                CallbackRequest.status == "open",
                or_(*whose),
            )
            .order_by(CallbackRequest.due_by.asc().nulls_last(), CallbackRequest.id)
            .limit(MAX_CALLBACKS)
            .subquery()
        )
        branches.append(select(callbacks))
    line_ids = select(Line.id).where(
        Line.tenant_id == tenant_id, Line.number_e164 == bindparam("called_key")
    )
    notices = (
        select(
            *_row(
                "notice",
                Notice.id,
                Notice.starts_at,
                Notice.ends_at,
                Notice.title,
                Notice.body,
                Notice.severity,
                n=Notice.sensitive,  # 0/1: role `agent` does not get it
            )
        )
        .where(
            Notice.tenant_id == tenant_id,
            Notice.starts_at <= now,
            or_(Notice.ends_at.is_(None), Notice.ends_at > now),
            or_(Notice.line_id.is_(None), Notice.line_id.in_(line_ids))
            if has_called
            else Notice.line_id.is_(None),
            or_(Notice.tag.is_(None), Notice.tag.in_(bindparam("tags", expanding=True)))
            if has_tags
            else Notice.tag.is_(None),
        )
        .order_by(Notice.starts_at.desc())
        .limit(MAX_NOTICES)
        .subquery()
    )
    branches.append(select(notices))
    return union_all(*branches)
