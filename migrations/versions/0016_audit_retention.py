"""audit retention: purges of old audit entries with the signed checkpoint of the cut (governance.audit_retention)

Revision ID: 0016_audit_retention
"""

revision = "0016_audit_retention"
down_revision = "0015_auto_rollback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for issue 11; filled by the branch that owns it


def downgrade() -> None:
    pass
