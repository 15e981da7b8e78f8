"""``python3 manage.py demo`` runs the scheduler beside the dashboard: only the retrain worker and
the release cycle (the monitoring jobs would re-score the demo's replayed timeline at the current
time), its /metrics on 127.0.0.1 at a free port, its log in the data directory, and it stops
cleanly when the dashboard stops."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

import manage
from tests.conftest import REPO_ROOT, metric


def test_the_demo_scheduler_runs_only_the_demo_jobs_and_stops_cleanly(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(manage, "PY", Path(sys.executable))  # the shared test environment, not ./.venv
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DATABASE_URL", "VIGIL_METRICS_PORT", "VIGIL_METRICS_HOST", "VIGIL_TOKEN")}
    env.update({"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
                "VIGIL_DEMO": "true"})
    proc = manage.start_demo_scheduler(env)
    log = tmp_path / "data" / "demo" / "scheduler.log"
    try:
        text = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            port = next((line.rsplit(":", 1)[1].split("/")[0] for line in log.read_text().splitlines()
                         if "metrics on http://127.0.0.1:" in line), None) if log.exists() else None
            if port:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                        text = response.read().decode()
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        assert proc.poll() is None, log.read_text()
        assert metric(text, "vigil_scheduler_job_running", job="worker") == 0.0
        assert metric(text, "vigil_scheduler_job_running", job="release") == 0.0
        assert metric(text, "vigil_scheduler_job_running", job="drift") is None  # not in the demo
        assert metric(text, "vigil_scheduler_job_running", job="health") is None
    finally:
        manage.stop_demo_scheduler(proc)
    assert proc.returncode == 0, log.read_text()
    assert "scheduler stopped" in log.read_text()
