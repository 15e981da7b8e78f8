"""job runs: process identity for reaping runs whose process is gone

Revision ID: 0005_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_runs"
down_revision = "0004_explain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("process_token", sa.String(length=160), nullable=True))
        batch.create_index("ix_job_runs_status_host", ["status", "host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_index("ix_job_runs_status_host")
        batch.drop_column("process_token")
        batch.drop_column("pid")
        batch.drop_column("host")
