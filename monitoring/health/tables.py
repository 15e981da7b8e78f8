"""Tables owned by service health: SLO snapshots and series, health snapshots, notification state.

- ``slo_snapshots``: one row per (model, SLO, evaluation time): error ratio, burn rate and
  request count per window (JSON ``{window: value|null}``), remaining budget, alert states.
- ``slo_series``: the newest time series per (model, kind) for the SLO page: ``burn:<slo>``
  (burn rates, budget, alerts per step) and ``metrics`` (latency percentiles, error rate,
  throughput, GPU per bucket); a new computation replaces the old row.
- ``health_snapshots``: one row per (model, evaluation time): score 0-100 (null: no data),
  level and every part (JSON list of {name, score, weight, detail}).
- ``notification_state``: per model the last level notified and any notification still owed
  (``pending``) because the webhook was down.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class SLOSnapshot(Base):
    __tablename__ = "slo_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    slo: Mapped[str] = mapped_column(String(128))
    sli: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # prometheus | logs
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    objective: Mapped[float] = mapped_column(Float)
    period: Mapped[str] = mapped_column(String(8))
    error_ratio: Mapped[dict] = mapped_column(JSON, default=dict)
    burn_rate: Mapped[dict] = mapped_column(JSON, default=dict)
    requests: Mapped[dict] = mapped_column(JSON, default=dict)
    budget_remaining: Mapped[float | None] = mapped_column(Float, nullable=True)
    page: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    job_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SLOSeries(Base):
    __tablename__ = "slo_series"
    __table_args__ = (UniqueConstraint("model", "kind", name="uq_slo_series_model_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(160))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    points: Mapped[list] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HealthSnapshot(Base):
    __tablename__ = "health_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    level: Mapped[str] = mapped_column(String(16))  # ok | warning | critical | no_data
    parts: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    job_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NotificationState(Base):
    __tablename__ = "notification_state"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)  # last level notified
    observed_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
