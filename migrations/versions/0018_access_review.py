"""access review: what the review needs beyond the grants table (governance.access_review)

Revision ID: 0018_access_review
"""

revision = "0018_access_review"
down_revision = "0017_model_inventory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for issue 11; filled by the branch that owns it


def downgrade() -> None:
    pass
