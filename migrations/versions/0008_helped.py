"""helped to satisfaction: the agent's verdict and the caller's survey score on an interaction

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-11 03:00:00

`helped` is the wrap-up's "geholpen?" (resolved, partly, not); `survey_score` the caller's own
1-5 from a post-call survey. Both null until given.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("helped", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("survey_score", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("survey_score")
        batch.drop_column("helped")
