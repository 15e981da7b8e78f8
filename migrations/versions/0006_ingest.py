"""ingestion: ledger of rotated, truncated and partially read files

Revision ID: 0006_ingest
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_ingest"
down_revision = "0005_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
