"""auto_rollback: probation checks of a newly promoted version (governance.auto_rollback)

Revision ID: 0015_auto_rollback
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_auto_rollback"
down_revision = "0014_retrain_queue"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auto_rollback_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", _TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("requests", sa.Float(), nullable=True),
        sa.Column("error_ratio", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("action", sa.String(24), nullable=True),
        sa.Column("action_detail", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_auto_rollback_checks_model_at", "auto_rollback_checks", ["model", "checked_at"])
    op.create_index("ix_auto_rollback_checks_promotion_id", "auto_rollback_checks", ["promotion_id"])


def downgrade() -> None:
    op.drop_index("ix_auto_rollback_checks_promotion_id", table_name="auto_rollback_checks")
    op.drop_index("ix_auto_rollback_checks_model_at", table_name="auto_rollback_checks")
    op.drop_table("auto_rollback_checks")
