"""call states: tenants' extension plans, missed calls counted per callback request

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("extension_plan", sa.String(length=200), nullable=True))
    with op.batch_alter_table("callback_requests") as batch:
        batch.add_column(
            sa.Column("missed_calls", sa.Integer(), server_default="1", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_column("missed_calls")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("extension_plan")
