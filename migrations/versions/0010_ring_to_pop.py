"""ring-to-pop per line and hour, for the supervisors' dashboard

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 03:00:00

Counts of pop frames per latency bucket, per tenant, line and UTC hour (hours since 1970):
small (one row per bucket that saw a frame) and added to by every process every few seconds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ring_to_pop_hours",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_ring_to_pop_hours_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "line_id", "hour", "bucket", name="pk_ring_to_pop_hours"
        ),
    )


def downgrade() -> None:
    op.drop_table("ring_to_pop_hours")
