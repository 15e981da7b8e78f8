"""Tables owned by model health: health snapshots and notification state.

(The SLO tables live beside the SLO service, in monitoring.slo.tables.)

- ``health_snapshots``: one row per (model, evaluation time): score 0-100 (null: no data),
  level and every part (JSON list of {name, score, weight, detail}).
- ``notification_state``: per model the last level notified and any notification still owed
  (``pending``) because the webhook was down.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


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
