"""identity: personal API tokens for the command line

Revision ID: 0008_identity
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_identity"
down_revision = "0007_scheduler"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
