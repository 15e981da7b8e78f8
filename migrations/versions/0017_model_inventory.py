"""model inventory: an admin's edits of the inventory fields of the models file (governance.inventory)

Revision ID: 0017_model_inventory
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_model_inventory"
down_revision = "0016_audit_retention"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_inventory_edits",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.String(128), nullable=False),
        sa.Column("edited_at", _TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_model_inventory_edits_model_field", "model_inventory_edits", ["model", "field"])
    op.create_table(
        "model_inventory_reminders",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("sent_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_inventory_reminders")
    op.drop_index("ix_model_inventory_edits_model_field", table_name="model_inventory_edits")
    op.drop_table("model_inventory_edits")
