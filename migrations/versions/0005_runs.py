"""job runs: process identity for reaping runs whose process is gone

Revision ID: 0005_runs
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_runs"
down_revision = "0004_explain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
