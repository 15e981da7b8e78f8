"""service health: SLO and health snapshots, notifications

Revision ID: 0003_health
"""

from alembic import op
import sqlalchemy as sa

revision = "0003_health"
down_revision = "0002_drift"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slo_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("slo", sa.String(128), nullable=False),
        sa.Column("sli", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("error_ratio", sa.JSON(), nullable=False),
        sa.Column("burn_rate", sa.JSON(), nullable=False),
        sa.Column("requests", sa.JSON(), nullable=False),
        sa.Column("budget_remaining", sa.Float(), nullable=True),
        sa.Column("page", sa.Boolean(), nullable=False),
        sa.Column("ticket", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("job_run_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_slo_snapshots_model", "slo_snapshots", ["model"])
    op.create_index("ix_slo_snapshots_at", "slo_snapshots", ["at"])

    op.create_table(
        "slo_series",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(160), nullable=False),
        sa.Column("start", TZ, nullable=False),
        sa.Column("end", TZ, nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("computed_at", TZ, nullable=False),
        sa.UniqueConstraint("model", "kind", name="uq_slo_series_model_kind"),
    )
    op.create_index("ix_slo_series_model", "slo_series", ["model"])

    op.create_table(
        "health_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("job_run_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_health_snapshots_model", "health_snapshots", ["model"])
    op.create_index("ix_health_snapshots_at", "health_snapshots", ["at"])

    op.create_table(
        "notification_state",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("observed_level", sa.String(16), nullable=True),
        sa.Column("changed_at", TZ, nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_sent_at", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("notification_state")
    op.drop_index("ix_health_snapshots_at", table_name="health_snapshots")
    op.drop_index("ix_health_snapshots_model", table_name="health_snapshots")
    op.drop_table("health_snapshots")
    op.drop_index("ix_slo_series_model", table_name="slo_series")
    op.drop_table("slo_series")
    op.drop_index("ix_slo_snapshots_at", table_name="slo_snapshots")
    op.drop_index("ix_slo_snapshots_model", table_name="slo_snapshots")
    op.drop_table("slo_snapshots")
