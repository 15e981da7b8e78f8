"""locks: named locks move to PostgreSQL advisory locks and file locks

Revision ID: 0012_locks
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0012_locks"
down_revision = "0011_slo_latency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
