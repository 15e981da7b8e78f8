"""auto_rollback: probation checks of a newly promoted version (governance.auto_rollback)

Revision ID: 0015_auto_rollback
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0015_auto_rollback"
down_revision = "0014_retrain_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # TODO(helper A): create the table(s)


def downgrade() -> None:
    pass
