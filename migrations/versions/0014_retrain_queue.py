"""retrain: the database-backed retrain queue (jobs, heartbeats, log tails)

Revision ID: 0014_retrain_queue
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0014_retrain_queue"
down_revision = "0013_releases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
