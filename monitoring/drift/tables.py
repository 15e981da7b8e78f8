"""Tables owned by the drift service: reference profiles, drift runs, per-feature results.

- ``reference_profiles``: one row per fitted profile (versioned; one current per model version);
  the profile bytes live in the artifact store (kind ``profiles``) under ``artifact_sha256``.
- ``drift_runs``: one row per (model, window, window_end); re-running a window replaces it.
- ``drift_feature_results``: one row per feature of a run.

The per-model drift lock is core.locks' named lock, not a table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ReferenceProfileRecord(Base):
    __tablename__ = "reference_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # training | window
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_name: Mapped[str] = mapped_column(String(256))
    sample_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # reference sample (Parquet)
    charts: Mapped[dict] = mapped_column(JSON, default=dict)  # feature -> chart histogram
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)


class DriftRun(Base):
    __tablename__ = "drift_runs"
    __table_args__ = (
        UniqueConstraint("model", "window", "window_end", name="uq_drift_runs_window"),
        {"sqlite_autoincrement": True},
    )  # a replaced run never hands its id to the next

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64), default="")
    window: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the check ran
    status: Mapped[str] = mapped_column(String(16))  # ok | no_data | quality_failed
    rows: Mapped[int] = mapped_column(Integer, default=0)
    rows_reference: Mapped[int] = mapped_column(Integer, default=0)
    features_tested: Mapped[int] = mapped_column(Integer, default=0)
    drifted_features: Mapped[int] = mapped_column(Integer, default=0)
    share_drifted: Mapped[float] = mapped_column(Float, default=0.0)
    max_severity: Mapped[str] = mapped_column(String(16), default="none")
    dataset_drift: Mapped[bool] = mapped_column(Boolean, default=False)
    profile_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    report_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    prediction: Mapped[dict] = mapped_column(JSON, default=dict)
    performance: Mapped[dict] = mapped_column(JSON, default=dict)
    quality: Mapped[dict] = mapped_column(JSON, default=dict)


class DriftFeatureResult(Base):
    __tablename__ = "drift_feature_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("drift_runs.id", ondelete="CASCADE"), index=True)
    feature: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    ks_statistic: Mapped[float | None] = mapped_column(Float, nullable=True)
    ks_pvalue: Mapped[float | None] = mapped_column(Float, nullable=True)
    ks_error_bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    chi2_statistic: Mapped[float | None] = mapped_column(Float, nullable=True)
    chi2_pvalue: Mapped[float | None] = mapped_column(Float, nullable=True)
    psi: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_value_adjusted: Mapped[float | None] = mapped_column(Float, nullable=True)
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str] = mapped_column(String(16), default="none")
    missing_share_reference: Mapped[float | None] = mapped_column(Float, nullable=True)
    missing_share_current: Mapped[float | None] = mapped_column(Float, nullable=True)
    histogram: Mapped[dict] = mapped_column(JSON, default=dict)  # current-window counts on the chart bins
