"""lines: a called number is unique per tenant, no longer across tenants

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 00:40:00

Calls reach us under a tenant's own webhook URL or connector, so a line is only ever
looked up within its tenant; a global rule leaked that another tenant has a number and
let the first tenant to enter it block its owner.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.drop_constraint("uq_lines_number_e164", type_="unique")
        batch.create_unique_constraint(
            "uq_lines_tenant_id_number_e164", ["tenant_id", "number_e164"]
        )


def downgrade() -> None:
    # Fails if two tenants configured the same number meanwhile: remove one line first.
    with op.batch_alter_table("lines") as batch:
        batch.drop_constraint("uq_lines_tenant_id_number_e164", type_="unique")
        batch.create_unique_constraint("uq_lines_number_e164", ["number_e164"])
