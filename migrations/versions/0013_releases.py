"""releases: release requests, approval decisions and alias history

Revision ID: 0013_releases
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0013_releases"
down_revision = "0012_locks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
