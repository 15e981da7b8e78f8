"""The ingest job as cron runs it (a subprocess with its environment), then the drift service on
what it stored: rows read = stored + quarantined on stdout, a re-run skips, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from core.context import AppContext
from core.settings import Settings
from tests.unit.logs.loghelpers import BASE, add_user, day_records, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.ingest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ingest_job_then_drift(tmp_path, models_config):
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'no-mlflow' / 'mlflow.db'}",
    }
    env.pop("DATABASE_URL", None)
    ctx = AppContext.create(Settings.from_env(env), models=models_config)
    add_user(ctx, "scheduler", "operator")
    for day in range(2):
        write_jsonl(
            tmp_path / "data/logs/diabetes" / f"{day}.jsonl",
            day_records(BASE + timedelta(days=day), 300, start_index=1000 * day, shift=day) + ["{oops"],
        )

    first = _run(env, "--model", "diabetes")
    assert first.returncode == 0, first.stderr
    assert "diabetes: rows read=602 stored=600 quarantined=2" in first.stdout
    assert "versions were not checked" in first.stdout  # no registry here: said, not hidden
    second = _run(env, "--model", "diabetes")
    assert "rows read=0 stored=0 quarantined=0" in second.stdout and "skipped=2" in second.stdout
    unknown = _run(env, "--model", "nope")
    assert unknown.returncode == 2 and "not configured" in unknown.stderr

    from monitoring.drift import service

    op = add_user(ctx, "ops", "operator")
    service.fit_reference_profile(
        ctx, op, "diabetes", "1", source="window", start=BASE, end=BASE + timedelta(days=1)
    )
    run = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + timedelta(days=2), report=False)
    assert run.rows == 300 and run.drifted_features >= 8
    ctx.engine.dispose()
