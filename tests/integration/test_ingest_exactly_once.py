"""The ingest job as cron runs it, under the conditions that lost or duplicated rows (issue 8,
item 4): two runs overlapping on a growing file, a run killed with SIGKILL and re-run, and a
remote log location that is down. Real processes, real SQLite files and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.context import AppContext
from core.settings import Settings
from monitoring.logs.quarantine import quarantine_summary
from monitoring.logs.store import read_window
from monitoring.logs.tables import IngestedFile
from tests.unit.logs.loghelpers import BASE, add_user, diabetes_record

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
        "DATABASE_URL": db_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'no-mlflow' / 'mlflow.db'}",
    }


def _job(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.ingest", "--model", "diabetes", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _line(i: int) -> bytes:
    return (json.dumps(diabetes_record(i, BASE + timedelta(seconds=i % 80_000))) + "\n").encode()


def _context(tmp_path: Path, db_url: str) -> AppContext:
    ctx = AppContext.create(Settings.from_env(_env(tmp_path, db_url)))
    add_user(ctx, "scheduler", "operator")
    return ctx


def _ids(ctx: AppContext) -> list[str]:
    table = read_window(ctx.settings, "diabetes", BASE, BASE + timedelta(days=3), columns=["request_id"])
    return table.column("request_id").to_pylist()


def _ledger_rows(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(IngestedFile)))


@pytest.mark.slow
def test_overlapping_runs_on_a_growing_file_store_each_row_once(tmp_path, db_url):
    ctx = _context(tmp_path, db_url)
    env = _env(tmp_path, db_url)
    path = tmp_path / "data" / "logs" / "diabetes" / "live.jsonl"
    path.parent.mkdir(parents=True)
    written = [0]
    stop = threading.Event()

    def writer() -> None:  # a server appending records, each in two writes (mid-line states)
        with open(path, "ab", buffering=0) as handle:
            while not stop.is_set():
                for _ in range(10):
                    line = _line(written[0])
                    handle.write(line[:30])
                    handle.write(line[30:])
                    written[0] += 1
                time.sleep(0.003)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2):
            runs = [_job(env), _job(env)]
            results = [_finish(p) for p in runs]
            assert all(code == 0 for code, _, _ in results), results
    finally:
        stop.set()
        thread.join()
    code, out, err = _finish(_job(env))  # everything the writer finished
    assert code == 0, err
    ids = _ids(ctx)
    assert len(ids) == len(set(ids)) == written[0] > 1000
    assert quarantine_summary(ctx.engine, "diabetes").rows_quarantined == 0
    assert len(ctx.audit.query(action="ingest.file")) == _ledger_rows(ctx)
    assert ctx.audit.verify().ok
    ctx.engine.dispose()


def _wait_for(condition, proc: subprocess.Popen[str], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_sigkill_mid_ingest_then_rerun_stores_each_row_once(tmp_path, db_url):
    ctx = _context(tmp_path, db_url)
    env = _env(tmp_path, db_url)
    root = tmp_path / "data" / "logs" / "diabetes"
    root.mkdir(parents=True)
    files, bad = 8, 0
    for f in range(files):
        lines = [_line(f * 10_000 + i) for i in range(2_500)]
        lines.append(b"{cut off\n")
        bad += 1
        (root / f"part-{f}.jsonl").write_bytes(b"".join(lines))
    total = files * 2_501
    store = tmp_path / "data" / "logstore"

    def staged() -> bool:
        return any(store.rglob(".*.pending"))

    def parts_written() -> bool:  # staged or not: the moment before a ledger commit
        return any(p.is_file() for p in store.rglob("*"))

    kills = 0
    for condition in (parts_written, lambda: _ledger_rows(ctx) >= 3):
        proc = _job(env)
        if _wait_for(condition, proc):
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=120)
    assert kills == 2, "the job finished before it could be killed: the test proved nothing"
    assert _ledger_rows(ctx) < files  # killed halfway
    assert len(_ids(ctx)) <= sum(2_500 for _ in range(_ledger_rows(ctx)))  # nothing uncommitted shows

    code, out, err = _finish(_job(env))
    assert code == 0, err
    ids = _ids(ctx)
    summary = quarantine_summary(ctx.engine, "diabetes")
    assert len(ids) == len(set(ids)) == files * 2_500
    assert summary.rows_quarantined == bad and summary.rows_read == total
    assert len(ids) + summary.rows_quarantined == total
    assert len(ctx.audit.query(action="ingest.file")) == _ledger_rows(ctx) == files
    assert not staged()
    ctx.engine.dispose()


def test_remote_location_down_exits_5_without_the_password(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'vigil.db'}"
    ctx = _context(tmp_path, db_url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://reader:hunter2pw@127.0.0.1:{port}/logs/"
    code, out, err = _finish(_job(_env(tmp_path, db_url), "--path", url))
    assert code == 5, (out, err)
    assert "does not answer" in err and "hunter2pw" not in out + err
    assert "Traceback" not in err
    ctx.engine.dispose()


def test_one_model_whose_location_is_down_does_not_stop_the_others(tmp_path):
    """Cron starts `jobs.ingest` bare: a model whose remote log location does not answer is one
    line and exit 5, while every other model's logs are still ingested in the same run."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for spec in config["models"]:
        if spec["name"] == "breast-cancer":
            spec["logs"] = f"http://reader:hunter2pw@127.0.0.1:{port}/logs/"
    config_file = tmp_path / "models.yaml"
    config_file.write_text(yaml.safe_dump(config))
    db_url = f"sqlite:///{tmp_path / 'vigil.db'}"
    env = {**_env(tmp_path, db_url), "VIGIL_CONFIG": str(config_file)}
    ctx = _context(tmp_path, db_url)
    logs = tmp_path / "data" / "logs" / "diabetes"
    logs.mkdir(parents=True)
    (logs / "a.jsonl").write_bytes(b"".join(_line(i) for i in range(30)))
    proc = subprocess.run([sys.executable, "-m", "jobs.ingest"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    assert "diabetes: rows read=30 stored=30 quarantined=0" in proc.stdout
    assert "breast-cancer: unavailable:" in proc.stderr and "(exit 5)" in proc.stderr
    assert "hunter2pw" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    ctx.engine.dispose()
