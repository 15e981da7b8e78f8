"""scheduler: leader lease so replicas run each job once

Revision ID: 0007_scheduler
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_scheduler"
down_revision = "0006_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
