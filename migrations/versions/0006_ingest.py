"""ingestion: ledger of rotated, truncated and partially read files; one ingest per model (lock)

Revision ID: 0006_ingest
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ingest"
down_revision = "0005_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_locks",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_locks")
