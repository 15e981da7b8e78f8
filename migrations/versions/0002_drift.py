"""drift: ingestion ledger, reference profiles, drift runs and feature results

Revision ID: 0002_drift
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_drift"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ingest_ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_stored", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("ingested_at", TZ, nullable=False),
        sa.Column("job_run_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("model", "checksum", name="uq_ingest_ledger_model_checksum"),
    )
    op.create_index("ix_ingest_ledger_model", "ingest_ledger", ["model"])
    op.create_index("ix_ingest_ledger_ingested_at", "ingest_ledger", ["ingested_at"])

    op.create_table(
        "reference_profiles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("window_start", TZ, nullable=True),
        sa.Column("window_end", TZ, nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_name", sa.String(256), nullable=False),
        sa.Column("sample_sha256", sa.String(64), nullable=True),
        sa.Column("charts", sa.JSON(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_reference_profiles_model", "reference_profiles", ["model"])

    op.create_table(
        "drift_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("window", sa.String(16), nullable=False),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("window_end", TZ, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rows_reference", sa.Integer(), nullable=False),
        sa.Column("features_tested", sa.Integer(), nullable=False),
        sa.Column("drifted_features", sa.Integer(), nullable=False),
        sa.Column("share_drifted", sa.Float(), nullable=False),
        sa.Column("max_severity", sa.String(16), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        sa.Column("report_name", sa.String(256), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("prediction", sa.JSON(), nullable=False),
        sa.Column("performance", sa.JSON(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.UniqueConstraint("model", "window", "window_end", name="uq_drift_runs_window"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_drift_runs_model", "drift_runs", ["model"])
    op.create_index("ix_drift_runs_window_end", "drift_runs", ["window_end"])

    op.create_table(
        "drift_feature_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drift_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("feature", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ks_statistic", sa.Float(), nullable=True),
        sa.Column("ks_pvalue", sa.Float(), nullable=True),
        sa.Column("ks_error_bound", sa.Float(), nullable=True),
        sa.Column("chi2_statistic", sa.Float(), nullable=True),
        sa.Column("chi2_pvalue", sa.Float(), nullable=True),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("p_value_adjusted", sa.Float(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("missing_share_reference", sa.Float(), nullable=True),
        sa.Column("missing_share_current", sa.Float(), nullable=True),
        sa.Column("histogram", sa.JSON(), nullable=False),
    )
    op.create_index("ix_drift_feature_results_run_id", "drift_feature_results", ["run_id"])

    op.create_table(
        "drift_locks",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("acquired_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("drift_locks")
    op.drop_index("ix_drift_feature_results_run_id", table_name="drift_feature_results")
    op.drop_table("drift_feature_results")
    op.drop_index("ix_drift_runs_window_end", table_name="drift_runs")
    op.drop_index("ix_drift_runs_model", table_name="drift_runs")
    op.drop_table("drift_runs")
    op.drop_index("ix_reference_profiles_model", table_name="reference_profiles")
    op.drop_table("reference_profiles")
    op.drop_index("ix_ingest_ledger_ingested_at", table_name="ingest_ledger")
    op.drop_index("ix_ingest_ledger_model", table_name="ingest_ledger")
    op.drop_table("ingest_ledger")
