"""slo: per-window latency histograms for pooled percentiles

Revision ID: 0011_slo_latency
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0011_slo_latency"
down_revision = "0010_drift_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
