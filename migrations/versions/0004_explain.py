"""explainability: SHAP reports and attribution drift

Revision ID: 0004_explain
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_explain"
down_revision = "0003_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shap_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("window", sa.String(16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("sample_source", sa.String(16), nullable=False),
        sa.Column("explainer", sa.String(32), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("background_rows", sa.Integer(), nullable=False),
        sa.Column("explained_rows", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("runtime_s", sa.Float(), nullable=False),
        sa.Column("additivity_max_error", sa.Float(), nullable=False),
        sa.Column("additivity_tolerance", sa.Float(), nullable=False),
        sa.Column("additivity_ok", sa.Boolean(), nullable=False),
        sa.Column("json_sha256", sa.String(64), nullable=False),
        sa.Column("json_size", sa.Integer(), nullable=False),
        sa.Column("html_sha256", sa.String(64), nullable=False),
        sa.Column("html_size", sa.Integer(), nullable=False),
        sa.Column("background_sha256", sa.String(64), nullable=False),
        sa.Column("importance", sa.JSON(), nullable=False),
        sa.Column("reference_importance", sa.JSON(), nullable=False),
        sa.Column("mlflow_logged", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_shap_reports_model", "shap_reports", ["model"])
    op.create_index("ix_shap_reports_created_at", "shap_reports", ["created_at"])
    op.create_index("ix_shap_reports_model_version", "shap_reports", ["model", "version"])

    op.create_table(
        "attribution_drift",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "report_id", sa.Integer(), sa.ForeignKey("shap_reports.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("rank_changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_attribution_drift_report_id", "attribution_drift", ["report_id"])
    op.create_index("ix_attribution_drift_model", "attribution_drift", ["model"])
    op.create_index("ix_attribution_drift_created_at", "attribution_drift", ["created_at"])


def downgrade() -> None:
    op.drop_table("attribution_drift")
    op.drop_table("shap_reports")
