"""Job-run records: every job run is stored with its outcome so the Overview can show it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, desc, func, select

from core.db import session_scope
from core.redact import redact_obj, redact_text
from core.tables import JobRun


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunHandle:
    id: int
    job: str
    model: str | None
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@contextmanager
def record_run(engine: Engine, job: str, *, model: str | None = None, actor: str = "") -> Iterator[RunHandle]:
    """Store a 'running' row, then 'success' or 'failed' with the message and details."""
    with session_scope(engine) as session:
        row = JobRun(job=job, model=model, started_at=utcnow(), status="running", actor=actor,
                     message="", details={})
        session.add(row)
        session.flush()
        handle = RunHandle(id=row.id, job=job, model=model)
    status, message = "success", ""
    try:
        yield handle
        message = handle.message
    except BaseException as exc:
        status, message = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        with session_scope(engine) as session:
            row = session.get(JobRun, handle.id)
            if row is not None:
                row.status = status
                row.finished_at = utcnow()
                row.message, row.details = redact_text(message)[:4000], redact_obj(handle.details)


@dataclass(frozen=True)
class JobRunView:
    id: int
    job: str
    model: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    actor: str
    message: str
    details: dict[str, Any]


def _view(row: JobRun) -> JobRunView:
    return JobRunView(row.id, row.job, row.model, row.started_at, row.finished_at, row.status,
                      row.actor, row.message, dict(row.details or {}))


def latest_runs(engine: Engine, *, model: str | None = None, limit: int = 20) -> list[JobRunView]:
    """Newest runs first; with ``model``, only that model's runs (and model-less ones)."""
    with session_scope(engine) as session:
        stmt = select(JobRun).order_by(desc(JobRun.started_at), desc(JobRun.id)).limit(limit)
        if model is not None:
            stmt = stmt.where((JobRun.model == model) | (JobRun.model.is_(None)))
        return [_view(r) for r in session.scalars(stmt)]


def latest_run_per_job(engine: Engine, *, model: str | None = None) -> list[JobRunView]:
    """The newest run of each (job, model) pair."""
    with session_scope(engine) as session:
        newest = (
            select(JobRun.job, JobRun.model, func.max(JobRun.id).label("id"))
            .group_by(JobRun.job, JobRun.model)
            .subquery()
        )
        stmt = select(JobRun).join(newest, JobRun.id == newest.c.id).order_by(JobRun.job)
        if model is not None:
            stmt = stmt.where(JobRun.model == model)
        return [_view(r) for r in session.scalars(stmt)]
