"""core.locks: one holder per name across processes, on SQLite (a file lock) and PostgreSQL (an
advisory lock); a holder killed with SIGKILL frees the lock at once; the waiter's Conflict names
the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.db import make_engine
from core.locks import LockBusy, named_lock

REPO = Path(__file__).resolve().parents[3]

HOLD = """
import sys
from core.db import make_engine
from core.locks import named_lock

engine = make_engine(sys.argv[1])
with named_lock(engine, sys.argv[2], wait_s=float(sys.argv[3]), holder=sys.argv[4]):
    print("held", flush=True)
    sys.stdin.readline()  # hold until told (or killed)
print("released", flush=True)
"""


def hold_in_process(url: str, name: str, holder: str, wait_s: float = 0.0) -> subprocess.Popen[str]:
    """Start a process that holds ``name`` until its stdin gets a line; returns once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url, name, str(wait_s), holder], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "held", proc.stderr.read() if proc.stderr else ""
    return proc


def test_two_processes_one_holder_and_the_waiter_names_it(db_url: str) -> None:
    first = hold_in_process(db_url, "drift:m", "first job")
    engine = make_engine(db_url)
    try:
        with pytest.raises(LockBusy) as busy:
            named_lock(engine, "drift:m", wait_s=0.3)
        assert busy.value.holder == "first job" and busy.value.since is not None
        assert "by first job since" in str(busy.value)
        with named_lock(engine, "drift:other", wait_s=0):  # another name is independent
            pass
        # a second process waits for the first and gets the lock once it is released
        assert first.stdin is not None
        second = subprocess.Popen([sys.executable, "-c", HOLD, db_url, "drift:m", "30", "second job"],
                                  cwd=REPO, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.stdout is not None and first.stdout.readline().strip() == "released"
        assert second.stdout is not None and second.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy, match="by second job"):
            named_lock(engine, "drift:m", wait_s=0)
        second.communicate("\n", timeout=30)
        with named_lock(engine, "drift:m", wait_s=0) as lock:
            assert lock.held()
        assert not lock.held()
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(db_url: str) -> None:
    holder = hold_in_process(db_url, "ingest:m", "doomed")
    engine = make_engine(db_url)
    try:
        with pytest.raises(LockBusy):
            named_lock(engine, "ingest:m", wait_s=0)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        # no stale-lock timeout, no pid check: the kernel / the server released it with the process.
        # PostgreSQL notices the closed socket when the backend next reads; allow it a moment.
        wait = 10.0 if engine.dialect.name == "postgresql" else 0.0
        with named_lock(engine, "ingest:m", wait_s=wait) as lock:
            assert lock.held()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        engine.dispose()


def test_in_memory_sqlite_locks_within_the_process() -> None:
    engine = create_engine("sqlite://")
    with named_lock(engine, "drift:m", wait_s=0, holder="me"):
        with pytest.raises(LockBusy, match="by me since"):
            named_lock(engine, "drift:m", wait_s=0.1)
    with named_lock(engine, "drift:m", wait_s=0):
        pass


def test_postgresql_fencing_sees_a_terminated_lock_session(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        with named_lock(engine, "ingest:m", wait_s=0) as lock:
            with engine.begin() as conn:
                assert lock.held(conn)
                backend = lock.backend  # type: ignore[attr-defined]
                conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend})
            with engine.begin() as conn:
                assert not lock.held(conn)
        with named_lock(engine, "ingest:m", wait_s=0):  # the server released it with the session
            pass
    finally:
        engine.dispose()
