"""Tables owned by the retrain queue (governance.retrain, run by ``python -m jobs.worker``).

``retrain_jobs`` holds one row per retrain asked for: who asked and why (``trigger`` manual or
policy), the command and timeout as configured when it was queued, and what happened (state
``queued`` -> ``running`` -> ``succeeded``/``failed``, the worker that ran it, start, finish, last
heartbeat, exit code, the last ~200 lines of its output redacted through core.redact, the model
version it produced and the release request opened for it).

The rule that must hold even when two people click at the same moment lives in the database:
``active_model`` holds the model name while the job is queued or running and NULL once it
finished, and is unique, so a model has at most one queued-or-running retrain (the same device
as ``release_requests.open_model``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

RETRAIN_STATES = ("queued", "running", "succeeded", "failed")
ACTIVE_STATES = ("queued", "running")


class RetrainJob(Base):
    """One retrain of ``model``: queued by a person or the policy, run by one worker."""

    __tablename__ = "retrain_jobs"
    __table_args__ = {"sqlite_autoincrement": True}  # a job id is never handed out twice

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    active_model: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))  # manual | policy
    reason: Mapped[str] = mapped_column(Text, default="")
    command: Mapped[str] = mapped_column(Text)
    timeout_s: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    produced_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    release_error: Mapped[str | None] = mapped_column(Text, nullable=True)
