"""Roles: what a caller of the API or an agent's widget may SEE (scopes say what it may DO).

    agent       the front desk: the card without the contact's notes and without notices
                the tenant marked sensitive; `masked` names what was left out
    supervisor  everything on the card, the contact's notes, sensitive notices; team figures
                (GET /v1/stats/fcr)
    admin       what a supervisor sees; every key with the `admin` scope has this role

Masking itself lives with the card (app/recognition/masking.py).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a principal may see."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


# What an agent gets until an admin says otherwise; an API key's default is in
# app/auth/keys.py (`key_role`): `admin` for admin-scoped keys, `agent` for the others.
DEFAULT_AGENT_ROLE = Role.AGENT


def sees_sensitive(role: str) -> bool:
    """True for roles that see notes and sensitive notices (supervisor, admin).

    Anything unknown is treated as `agent`: a role this process cannot read must not
    reveal more than the least one.
    """
    return role in (Role.SUPERVISOR, Role.ADMIN)
