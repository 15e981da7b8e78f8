"""Tables owned by the auto-rollback watcher (governance.auto_rollback).

``auto_rollback_checks`` holds one row per probation check of a newly promoted champion: which
promotion's probation it belongs to (``promotion_id``, the ``alias_moves`` row of the promotion),
the version checked, when, what the data said (requests, error ratio, p99 latency and where they
came from) and the verdict: ``pass``, ``breach``, ``no_evidence`` (too little traffic) or
``degraded`` (the data source did not answer). ``streak`` is the number of consecutive breaches up
to this check, so the count survives a restart or a failover of the scheduler; ``action`` records
what the watcher did after the check (``rolled_back``, ``rollback_failed``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

OUTCOMES = ("pass", "breach", "no_evidence", "degraded")
ACTIONS = ("rolled_back", "rollback_failed")


class AutoRollbackCheck(Base):
    """One check of ``version`` of ``model`` during the probation that started with ``promotion_id``."""

    __tablename__ = "auto_rollback_checks"
    __table_args__ = (Index("ix_auto_rollback_checks_model_at", "model", "checked_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    promotion_id: Mapped[int] = mapped_column(Integer, index=True)  # alias_moves.id of the promotion
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))  # pass | breach | no_evidence | degraded
    source: Mapped[str] = mapped_column(String(16))  # prometheus | logs | none
    requests: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    p99_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str | None] = mapped_column(String(24), nullable=True)
    action_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
