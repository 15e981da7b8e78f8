"""drift: long-form feature results (one row per feature and method)

Revision ID: 0010_drift_results
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0010_drift_results"
down_revision = "0009_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
