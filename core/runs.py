"""Job-run records: every job run is stored with its outcome so the Overview can show it.

This module owns the ``job_runs`` rows: :func:`record_run` writes them (called by
governance.runner.governed_run and the jobs that are not model-scoped) and the unchecked
reads below serve trusted internal callers (the health score, the metrics exporter). People
read job runs through governance.job_runs, which checks what the viewer may see.

A run is stored as "running" with the identity of its process (host, pid and a token of boot
id, PID namespace and process start time), then as "success" or "failed". A process killed
with SIGKILL cannot record its outcome, so every start of a job (:func:`record_run`) first marks
the "running" rows of this host whose process is gone (or whose pid now belongs to another
process) as failed: "process … exited without recording an outcome". Rows written by another
host or PID namespace cannot be checked from here (a Kubernetes CronJob gets a new pod, so a new
host name, every run): they are marked failed only once they have been "running" for longer than
:data:`ABANDONED_AFTER`, far beyond any job's deadline (the longest shipped one, SHAP, is 2 h).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, desc, func, select, update

from core.db import retry_busy, session_scope, write_scope
from core.redact import redact_obj, redact_text
from core.tables import JobRun

log = logging.getLogger("vigil.runs")
# a "running" row of another host older than this is abandoned (no job has a deadline near it)
ABANDONED_AFTER = timedelta(hours=24)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    token: str  # "<boot id>/<pid namespace>/<start time in clock ticks>"; "" where unknown

    @property
    def machine(self) -> str:
        """The part of the token naming this boot and PID namespace."""
        return self.token.rsplit("/", 1)[0] if self.token else ""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _start_ticks(pid: int) -> str:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""  # field 22 of proc(5): starttime


@cache
def _machine_token() -> str:
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    return f"{boot}/{pidns}" if boot else ""


def process_identity(pid: int | None = None) -> ProcessIdentity:
    """Who runs this (or ``pid``'s) job: host, pid and a token that survives no pid reuse."""
    pid = os.getpid() if pid is None else pid
    machine, ticks = _machine_token(), _start_ticks(pid)
    token = f"{machine}/{ticks}" if machine and ticks else ""
    return ProcessIdentity(socket.gethostname()[:255], pid, token)


def _process_gone(pid: int, token: str | None, me: ProcessIdentity) -> bool:
    """True when the process that wrote a row on this host (and namespace) no longer runs."""
    if token and me.token:
        if token.rsplit("/", 1)[0] != me.machine:
            boot = token.split("/", 1)[0]
            return boot != me.token.split("/", 1)[0]  # rebooted since: gone; other namespace: unknown
        return process_identity(pid).token != token  # no such pid, or a new process reuses it
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_runs(engine: Engine, *, abandoned_after: timedelta = ABANDONED_AFTER) -> list[int]:
    """Mark "running" rows whose process is gone as failed: this host's at once, other hosts'
    once they are older than ``abandoned_after``; returns their ids."""
    me = process_identity()
    cutoff = utcnow() - abandoned_after
    with session_scope(engine) as session:
        candidates = session.execute(
            select(JobRun.id, JobRun.pid, JobRun.process_token)
            .where(JobRun.status == "running", JobRun.host == me.host, JobRun.pid.is_not(None))
        ).all()
        abandoned = session.execute(
            select(JobRun.id, JobRun.pid, JobRun.host)
            .where(JobRun.status == "running", JobRun.started_at < cutoff,
                   (JobRun.host != me.host) | JobRun.host.is_(None) | JobRun.pid.is_(None))
        ).all()
    hours = abandoned_after.total_seconds() / 3600
    stale = [(rid, f"process {pid} on {me.host} exited without recording an outcome (killed or crashed)")
             for rid, pid, token in candidates if pid != me.pid and _process_gone(pid, token, me)]
    stale += [(rid, f"process {pid or '?'} on {host or 'an unknown host'} recorded no outcome within "
                    f"{hours:g} h (its host cannot be checked from here)") for rid, pid, host in abandoned]
    if not stale:
        return []

    def mark() -> list[int]:
        done = []
        now = utcnow()
        with write_scope(engine) as session:
            for rid, why in stale:
                message = f"{why}; marked failed at the next job start"
                hit = session.execute(update(JobRun).where(JobRun.id == rid, JobRun.status == "running")
                                      .values(status="failed", finished_at=now, message=message)
                                      .returning(JobRun.id)).first()
                if hit is not None:
                    done.append(rid)
        return done

    reaped = retry_busy(mark)
    if reaped:
        log.warning("marked %d run(s) failed whose process exited without recording an outcome: %s",
                    len(reaped), ", ".join(map(str, reaped)))
    return reaped


@dataclass
class RunHandle:
    id: int
    job: str
    model: str | None
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@contextmanager
def record_run(engine: Engine, job: str, *, model: str | None = None, actor: str = "") -> Iterator[RunHandle]:
    """Store a 'running' row, then 'success' or 'failed' with the message and details.

    Each write is one short write transaction, retried while the database is busy, so jobs
    that start in the same minute do not fail each other. Runs of this host whose process died
    without an outcome are marked failed first (:func:`reap_stale_runs`).
    """
    reap_stale_runs(engine)
    me = process_identity()

    def start() -> RunHandle:
        with write_scope(engine) as session:
            row = JobRun(job=job, model=model, started_at=utcnow(), status="running", actor=actor,
                         message="", details={}, host=me.host, pid=me.pid, process_token=me.token or None)
            session.add(row)
            session.flush()
            return RunHandle(id=row.id, job=job, model=model)

    handle = retry_busy(start)
    status, message = "success", ""
    try:
        yield handle
        message = handle.message
    except BaseException as exc:
        status, message = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        def finish() -> None:
            with write_scope(engine) as session:
                session.execute(update(JobRun).where(JobRun.id == handle.id).values(
                    status=status, finished_at=utcnow(), message=redact_text(message)[:4000],
                    details=redact_obj(handle.details)))

        retry_busy(finish)


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


def latest_runs(engine: Engine, *, model: str | None = None, job: str | None = None,
                limit: int = 20) -> list[JobRunView]:
    """Newest runs first; with ``model``, only that model's runs (and model-less ones); with
    ``job``, only that job's."""
    with session_scope(engine) as session:
        stmt = select(JobRun).order_by(desc(JobRun.started_at), desc(JobRun.id)).limit(limit)
        if model is not None:
            stmt = stmt.where((JobRun.model == model) | (JobRun.model.is_(None)))
        if job is not None:
            stmt = stmt.where(JobRun.job == job)
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
