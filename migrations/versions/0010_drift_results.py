"""drift: long-form feature results (one row per feature and method)

Revision ID: 0010_drift_results

Creates ``drift_method_results`` (one row per run, feature and drift method) and moves the KS,
chi-square and PSI columns of ``drift_feature_results`` into it: every stored run keeps its
statistics, now as rows ``ks`` (statistic, p-value, adjusted p-value, error bound), ``chi2``
(statistic, p-value, adjusted p-value) and ``psi`` (statistic). The thresholds and row decisions
of old runs are not known exactly (the settings were not stored), so the copied rows carry the
defaults (alpha 0.05, PSI 0.1) and the feature's own decision on its test row. The downgrade puts
the columns back, filled from the rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_drift_results"
down_revision = "0009_audit_anchor"
branch_labels = None
depends_on = None

MOVED = ("ks_statistic", "ks_pvalue", "ks_error_bound", "chi2_statistic", "chi2_pvalue", "psi", "p_value_adjusted")


def upgrade() -> None:
    op.create_table(
        "drift_method_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drift_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("feature", sa.String(256), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("p_value_adjusted", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("threshold_on", sa.String(16), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("effect", sa.Float(), nullable=True),
        sa.Column("min_effect", sa.Float(), nullable=True),
        sa.Column("error_bound", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.UniqueConstraint("run_id", "feature", "method", name="uq_drift_method_results"),
    )
    op.create_index("ix_drift_method_results_run_id", "drift_method_results", ["run_id"])
    conn = op.get_bind()
    old = sa.table("drift_feature_results", *(sa.column(c) for c in (
        "run_id", "feature", "kind", "drifted", "severity", *MOVED)))
    new = sa.table("drift_method_results", *(sa.column(c) for c in (
        "run_id", "feature", "method", "statistic", "p_value", "p_value_adjusted", "threshold", "threshold_on",
        "drifted", "severity", "effect", "error_bound")), sa.column("details", sa.JSON()))
    rows = []
    for r in conn.execute(sa.select(old)).mappings():
        test = "ks" if r["kind"] == "numeric" else "chi2"
        stat, p = (r["ks_statistic"], r["ks_pvalue"]) if test == "ks" else (r["chi2_statistic"], r["chi2_pvalue"])
        if stat is not None or p is not None:
            rows.append({"run_id": r["run_id"], "feature": r["feature"], "method": test, "statistic": stat,
                         "p_value": p, "p_value_adjusted": r["p_value_adjusted"], "threshold": 0.05,
                         "threshold_on": "p_value", "drifted": bool(r["drifted"]),
                         "severity": r["severity"] if r["drifted"] else "none",
                         "effect": stat if test == "ks" else r["psi"],
                         "error_bound": r["ks_error_bound"] if test == "ks" else None,
                         "details": {"migrated": True}})
        if r["psi"] is not None:
            rows.append({"run_id": r["run_id"], "feature": r["feature"], "method": "psi", "statistic": r["psi"],
                         "p_value": None, "p_value_adjusted": None, "threshold": 0.1, "threshold_on": "distance",
                         "drifted": r["psi"] >= 0.1, "severity": r["severity"], "effect": None,
                         "error_bound": None, "details": {"migrated": True}})
    if rows:
        op.bulk_insert(new, rows)
    with op.batch_alter_table("drift_feature_results") as batch:
        for name in MOVED:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("drift_feature_results") as batch:
        for name in MOVED:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    conn = op.get_bind()
    rows = sa.table("drift_method_results", *(sa.column(c) for c in (
        "run_id", "feature", "method", "statistic", "p_value", "p_value_adjusted", "error_bound")))
    feats = sa.table("drift_feature_results", sa.column("run_id"), sa.column("feature"), *(sa.column(c) for c in MOVED))
    for r in conn.execute(sa.select(rows).where(rows.c.method.in_(("ks", "chi2", "psi")))).mappings():
        if r["method"] == "psi":
            values = {"psi": r["statistic"]}
        else:
            prefix = r["method"]
            values = {f"{prefix}_statistic": r["statistic"], f"{prefix}_pvalue": r["p_value"],
                      "p_value_adjusted": r["p_value_adjusted"]}
            if prefix == "ks":
                values["ks_error_bound"] = r["error_bound"]
        conn.execute(sa.update(feats).where(feats.c.run_id == r["run_id"], feats.c.feature == r["feature"])
                     .values(**values))
    op.drop_index("ix_drift_method_results_run_id", table_name="drift_method_results")
    op.drop_table("drift_method_results")
