"""callbacks we promised: due-time policy, attempts, escalation once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 03:00:00

A callback policy (opening hours, closed days, rule; JSON, app/callbacks/policy.py) on the
tenant and, replacing it, on a line; null means the default. Each call-back attempt is a row;
`escalated_at` on a request is set by the one sweep that claims it overdue.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("callback_policy", sa.JSON(), nullable=True))
    with op.batch_alter_table("lines") as batch:
        batch.add_column(sa.Column("callback_policy", sa.JSON(), nullable=True))
    with op.batch_alter_table("callback_requests") as batch:
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_callback_requests_overdue", ["status", "escalated_at", "due_by"], unique=False
        )
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("callback_request_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_callback_attempts_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["callback_request_id"],
            ["callback_requests.id"],
            name="fk_callback_attempts_callback_request_id_callback_requests",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name="fk_callback_attempts_agent_id_agents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callback_attempts"),
    )
    op.create_index("ix_callback_attempts_tenant_id", "callback_attempts", ["tenant_id"])
    op.create_index(
        "ix_callback_attempts_request",
        "callback_attempts",
        ["callback_request_id", "attempted_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_callback_attempts_request", table_name="callback_attempts")
    op.drop_index("ix_callback_attempts_tenant_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_index("ix_callback_requests_overdue")
        batch.drop_column("escalated_at")
    with op.batch_alter_table("lines") as batch:
        batch.drop_column("callback_policy")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("callback_policy")
