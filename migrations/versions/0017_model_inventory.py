"""model inventory: an admin's edits of the inventory fields of the models file (governance.inventory)

Revision ID: 0017_model_inventory
"""

revision = "0017_model_inventory"
down_revision = "0016_audit_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for issue 11; filled by the branch that owns it


def downgrade() -> None:
    pass
