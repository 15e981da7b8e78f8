"""promotion: promotion and rollback state (deployment hook outcome, alias history additions)

Revision ID: 0015_promotion
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0015_promotion"
down_revision = "0014_retrain_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
