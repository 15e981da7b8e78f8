"""Tables owned by monitoring.explain: archived SHAP reports and attribution-drift results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ShapReport(Base):
    """One SHAP run of one model version; the newest per (model, version) is ``is_current``."""

    __tablename__ = "shap_reports"
    __table_args__ = (Index("ix_shap_reports_model_version", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128), default="")
    sample_source: Mapped[str] = mapped_column(String(16))  # window | reference
    explainer: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(32))
    background_rows: Mapped[int] = mapped_column(Integer)
    explained_rows: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    runtime_s: Mapped[float] = mapped_column(Float)
    additivity_max_error: Mapped[float] = mapped_column(Float)
    additivity_tolerance: Mapped[float] = mapped_column(Float)
    additivity_ok: Mapped[bool] = mapped_column(Boolean)
    json_sha256: Mapped[str] = mapped_column(String(64))
    json_size: Mapped[int] = mapped_column(Integer)
    html_sha256: Mapped[str] = mapped_column(String(64))
    html_size: Mapped[int] = mapped_column(Integer)
    background_sha256: Mapped[str] = mapped_column(String(64))
    importance: Mapped[dict] = mapped_column(JSON, default=dict)  # feature -> mean |SHAP|
    reference_importance: Mapped[dict] = mapped_column(JSON, default=dict)
    mlflow_logged: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)


class AttributionDriftResult(Base):
    """Attribution drift of one report's window against the version's reference."""

    __tablename__ = "attribution_drift"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("shap_reports.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    distance: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    drifted: Mapped[bool] = mapped_column(Boolean)
    rank_changes: Mapped[list] = mapped_column(JSON, default=list)
