"""roles: what agents and API keys may see; notices a tenant marks sensitive

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12 03:00:00

`agents.role` and `api_keys.role` are `agent`, `supervisor` or `admin` (app/auth/roles.py).
Agents start as `agent`. Keys that exist already keep seeing what they saw: an admin-scoped
key becomes `admin`, every other key `supervisor` (an integration must not silently lose
fields on upgrade). `notices.sensitive` marks a notice role `agent` does not see.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), server_default="agent", nullable=False)
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), server_default="agent", nullable=False)
        )
    with op.batch_alter_table("notices") as batch:
        batch.add_column(
            sa.Column("sensitive", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Existing keys: admin-scoped ones are admins, the others keep seeing everything they
    # saw (supervisor). Read in Python: `scopes` is JSON text on SQLite, json on PostgreSQL.
    keys = sa.table("api_keys", sa.column("id", sa.Integer), sa.column("scopes", sa.JSON),
                    sa.column("role", sa.String))  # fmt: skip
    connection = op.get_bind()
    for key_id, scopes in connection.execute(sa.select(keys.c.id, keys.c.scopes)).all():
        role = "admin" if "admin" in (scopes or []) else "supervisor"
        connection.execute(sa.update(keys).where(keys.c.id == key_id).values(role=role))


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("sensitive")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("role")
