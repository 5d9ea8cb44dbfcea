"""lookup sources: the external systems a tenant's callers are looked up in

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 03:00:00

One row per source (HTTP/JSON CRM, LDAP, CardDAV, FHIR) of a tenant: its kind, a config
validated per kind by the API, and a write-only secret (a token or password).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lookup_sources",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=4096), nullable=True),
        sa.Column("timeout_ms", sa.Integer(), nullable=False),
        sa.Column("cache_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lookup_sources_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lookup_sources")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_lookup_sources_tenant_id_name")),
    )
    with op.batch_alter_table("lookup_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lookup_sources_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lookup_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lookup_sources_tenant_id"))
    op.drop_table("lookup_sources")
