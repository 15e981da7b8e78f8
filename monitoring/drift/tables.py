"""Tables owned by the drift service: reference profiles, drift runs, per-feature results.

- ``reference_profiles``: one row per fitted profile (versioned; one current per model version);
  the profile bytes live in the artifact store (kind ``profiles``) under ``artifact_sha256``.
- ``drift_runs``: one row per (model, window, window_end); re-running a window replaces it.
- ``drift_feature_results``: one row per feature of a run: its decision, severity, missing shares
  and chart histogram (no statistics: those are long-form rows below).
- ``drift_method_results``: one row per (run, feature, drift method), long form: statistic,
  p-value (raw and adjusted), threshold and what it bounds, drifted, severity, details. A new
  drift method adds rows, never a column or a migration.

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
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str] = mapped_column(String(16), default="none")
    missing_share_reference: Mapped[float | None] = mapped_column(Float, nullable=True)
    missing_share_current: Mapped[float | None] = mapped_column(Float, nullable=True)
    histogram: Mapped[dict] = mapped_column(JSON, default=dict)  # current-window counts on the chart bins


class DriftMethodResult(Base):
    __tablename__ = "drift_method_results"
    __table_args__ = (UniqueConstraint("run_id", "feature", "method", name="uq_drift_method_results"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("drift_runs.id", ondelete="CASCADE"), index=True)
    feature: Mapped[str] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(64))
    statistic: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_value_adjusted: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    threshold_on: Mapped[str] = mapped_column(String(16))  # p_value | distance
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str] = mapped_column(String(16), default="none")
    effect: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_effect: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

