"""Job-run records under real conditions: jobs starting in the same moment on SQLite all end
"success"/"failed", and a job killed with SIGKILL is marked failed at the next job start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import make_engine, migrate, session_scope
from core.runs import latest_runs, record_run
from core.tables import JobRun

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]

HOLD_A_RUN = """
import sys, time
from core.db import make_engine
from core.runs import record_run
engine = make_engine(sys.argv[1])
with record_run(engine, sys.argv[2], model="m"):
    print("started", flush=True)
    time.sleep(120)
"""


def test_jobs_recording_runs_at_the_same_moment_all_end_with_an_outcome(tmp_path: Path) -> None:
    """The shipped config starts ingest, slo and health in the same minute: none may die on the
    database lock and leave its row 'running'."""
    engine = make_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    migrate(engine)
    jobs = [f"job{i}" for i in range(12)]
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: str) -> None:
        barrier.wait()
        try:
            with record_run(engine, job) as run:
                run.details = {"rows": 1}
                if job.endswith(("3", "7")):
                    raise RuntimeError("no logs")
        except RuntimeError:
            pass
        except BaseException as exc:  # noqa: BLE001 - a database error is the failure we look for
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    runs = {r.job: r.status for r in latest_runs(engine, limit=100)}
    assert runs == {j: ("failed" if j.endswith(("3", "7")) else "success") for j in jobs}
    engine.dispose()


def _start_holder(url: str, job: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_A_RUN, url, job], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "started", proc.stderr.read() if proc.stderr else ""
    return proc


def test_a_run_killed_with_sigkill_is_marked_failed_at_the_next_start(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    killed = _start_holder(db_url, "ingest")
    alive = _start_holder(db_url, "slo")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        with session_scope(engine) as s:
            before = {r.job: r.status for r in s.scalars(select(JobRun))}
        assert before == {"ingest": "running", "slo": "running"}  # the kill left it running

        with record_run(engine, "health"):
            pass

        runs = {r.job: r for r in latest_runs(engine, limit=10)}
        assert runs["ingest"].status == "failed"
        assert runs["ingest"].finished_at is not None
        assert f"process {killed.pid}" in runs["ingest"].message
        assert "exited without recording an outcome" in runs["ingest"].message
        assert runs["slo"].status == "running"  # its process still runs: left alone
        assert runs["health"].status == "success"
    finally:
        alive.kill()
        alive.wait(timeout=30)
        engine.dispose()


def test_a_reused_pid_is_reaped_and_other_hosts_are_left_alone(db_url: str) -> None:
    """A row whose pid now belongs to another process (different start time) is stale; a row
    from another host cannot be judged from here and stays as it is."""
    from core.runs import process_identity, utcnow

    engine = make_engine(db_url)
    migrate(engine)
    me = process_identity()
    parent = process_identity(os.getppid())  # a live process, but not the one that wrote the row
    if not parent.token:
        pytest.skip("process start times are not readable on this system (/proc)")
    machine = parent.token.rsplit("/", 1)[0]
    with session_scope(engine) as s:
        s.add(JobRun(job="reused", started_at=utcnow(), status="running", actor="", message="",
                     details={}, host=me.host, pid=parent.pid, process_token=f"{machine}/1"))
        s.add(JobRun(job="elsewhere", started_at=utcnow(), status="running", actor="", message="",
                     details={}, host="another-host", pid=parent.pid, process_token=f"{machine}/1"))
    with record_run(engine, "health"):
        pass
    runs = {r.job: r for r in latest_runs(engine, limit=10)}
    assert runs["reused"].status == "failed"
    assert "exited without recording an outcome" in runs["reused"].message
    assert runs["elsewhere"].status == "running"
    engine.dispose()


def test_another_hosts_run_is_marked_failed_once_abandoned(db_url: str) -> None:
    """A CronJob pod killed mid-run leaves a row from a host that never comes back: after a day
    without an outcome it is marked failed with a message saying why; a recent one is left."""
    from datetime import timedelta

    from core.runs import ABANDONED_AFTER, utcnow

    engine = make_engine(db_url)
    migrate(engine)
    old = utcnow() - ABANDONED_AFTER - timedelta(minutes=5)
    with session_scope(engine) as s:
        s.add(JobRun(job="pod-killed", started_at=old, status="running", actor="", message="",
                     details={}, host="vigil-drift-29131-abcde", pid=7, process_token=None))
        s.add(JobRun(job="pod-running", started_at=utcnow() - timedelta(hours=1), status="running",
                     actor="", message="", details={}, host="vigil-shap-29131-fghij", pid=7,
                     process_token=None))
    with record_run(engine, "health"):
        pass
    runs = {r.job: r for r in latest_runs(engine, limit=10)}
    assert runs["pod-killed"].status == "failed"
    assert "vigil-drift-29131-abcde recorded no outcome within 24 h" in runs["pod-killed"].message
    assert runs["pod-killed"].finished_at is not None
    assert runs["pod-running"].status == "running"
    engine.dispose()


def test_postgresql_sessions_get_the_statement_timeout_and_keep_the_url_options(pg_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(pg_url, statement_timeout=7)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "7s"
            schema = pg_url.rsplit("%3D", 1)[-1]
            assert conn.execute(text("SELECT current_schema()")).scalar_one() == schema
    finally:
        engine.dispose()
