"""locks: named locks move to PostgreSQL advisory locks and file locks

The drift and ingest locks are core.locks' named locks (a PostgreSQL session advisory lock, an
OS file lock beside a SQLite database), which the server or the kernel releases when the holder
dies; the lock tables they replace are read by nothing any more.

Revision ID: 0012_locks
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_locks"
down_revision = "0010_drift_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("drift_locks")
    op.drop_table("ingest_locks")


def downgrade() -> None:
    op.create_table(
        "ingest_locks",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "drift_locks",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    )
