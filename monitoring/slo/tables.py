"""Tables owned by the SLO service: snapshots of each evaluation and the series the SLO page draws.

- ``slo_snapshots``: one row per (model, SLO, evaluation time): error ratio, burn rate and
  request count per window (JSON ``{window: value|null}``), remaining budget, alert states;
  ``details`` holds the decision of every multiwindow alert rule (``alert_rules``), the
  latency and GPU figures and the notes the page shows.
- ``slo_series``: the newest time series per (model, kind) for the SLO page: ``burn:<slo>``
  (burn rates, budget, alerts per step) and ``metrics`` (latency percentiles, error rate,
  throughput, GPU per bucket and version); a new computation replaces the old row.

Moved from monitoring.health.tables without a schema change (same table names and columns).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, UniqueConstraint
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
