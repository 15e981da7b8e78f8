"""Tables owned by core: the record of every job run, the schedulers' leader lease."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class JobRun(Base):
    """One job run; ``host``/``pid``/``process_token`` name the process that runs it, so a run
    whose process died without recording an outcome can be marked failed (core.runs)."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_status_host", "status", "host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # running | success | failed
    actor: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # boot id / PID namespace / start time in clock ticks: tells a live process from a reused pid
    process_token: Mapped[str | None] = mapped_column(String(160), nullable=True)


class SchedulerLease(Base):
    """The leader lease of replicated schedulers (core/lease.py): one row per lease name.

    ``version`` grows with every acquire and renewal; each change is a compare-and-set on it.
    """

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255), default="")  # host:pid:uuid, "" when released
    version: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
