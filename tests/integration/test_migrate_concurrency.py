"""Eight processes starting at once against a fresh database: one migrates, the others wait,
all exit 0 and the schema is at head once (PostgreSQL schema and SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.db import head_revision, make_engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_eight_processes_migrating_a_fresh_database_at_once_all_succeed(db_url: str,
                                                                         tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "jobs.migrate"], cwd=REPO_ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        outcomes.append((proc.returncode, out, err))
    assert [rc for rc, _, _ in outcomes] == [0] * 8, [err for _, _, err in outcomes]
    assert not any("Traceback" in err for _, _, err in outcomes)
    said = [out for _, out, _ in outcomes]
    assert sum("schema migrated from nothing" in s for s in said) == 1, said
    assert sum("already current" in s for s in said) == 7, said

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            tables = set(inspect(conn).get_table_names())
        assert versions == [head_revision()]
        assert {"job_runs", "users", "audit_log", "sign_in_sessions"} <= tables
    finally:
        engine.dispose()
