"""retrain: the database-backed retrain queue (jobs, heartbeats, log tails; governance.retrain_tables)

Revision ID: 0014_retrain_queue
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_retrain_queue"
down_revision = "0013_releases"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retrain_jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_model", sa.String(128), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("queued_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("heartbeat_at", _TS, nullable=True),
        sa.Column("worker", sa.String(256), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=False),
        sa.Column("produced_version", sa.String(64), nullable=True),
        sa.Column("release_request_id", sa.Integer(), nullable=True),
        sa.Column("release_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("active_model"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_retrain_jobs_model", "retrain_jobs", ["model"])
    op.create_index("ix_retrain_jobs_state", "retrain_jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_retrain_jobs_state", table_name="retrain_jobs")
    op.drop_index("ix_retrain_jobs_model", table_name="retrain_jobs")
    op.drop_table("retrain_jobs")
