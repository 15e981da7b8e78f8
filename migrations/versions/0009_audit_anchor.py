"""audit: checkpoints of the chain head anchored outside the database

Revision ID: 0009_audit_anchor
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009_audit_anchor"
down_revision = "0008_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
