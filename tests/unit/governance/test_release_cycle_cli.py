"""`python -m jobs.release` run bare, as cron and the scheduler start it: the scheduled cycle
(expire, then poll and sync each model) as the job account, and the exit codes of ``poll`` and
``cycle``; real subprocesses against a SQLite database and a real (SQLite-backed) MLflow
registry."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.actor import Actor
from core.context import AppContext
from core.settings import Settings
from governance import identity, releases
from governance.rbac import grant
from jobs._cli import EXIT_DENIED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from tests.unit.governance.release_fixtures import ADMIN, BC, create_accounts

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """breast-cancer-mlp versions 1-3 (champion 1, set in MLflow directly), diabetes not registered,
    the job account ``scheduler`` (operator on *), and a request for version 2 opened 20 days ago."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    values = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIGIL_TOKEN", "VIGIL_JOB_USER")}
    values.update({"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
                   "MLFLOW_TRACKING_URI": uri, "VIGIL_DEMO": "true"})
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("breast-cancer-mlp")
    for _ in range(3):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", 0.93)
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.create_model_version("breast-cancer-mlp", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("breast-cancer-mlp", "champion", "1")
    ctx = AppContext.create(Settings.from_env(values))
    create_accounts(ctx)
    identity.create_user(ctx, ADMIN, "scheduler", "scheduler-password")
    grant(ctx, ADMIN, "scheduler", "operator", "*", reason="the job account")
    releases.request_release(ctx, Actor("opal", "cli"), BC, "2", now=datetime.now(UTC) - timedelta(days=20))
    ctx.engine.dispose()
    return values


def release(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.release", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def state(env: dict[str, str]):  # type: ignore[no-untyped-def]
    ctx = AppContext.create(Settings.from_env(env))
    try:
        return ([(v.id, v.version, v.stored_state, v.requested_by)
                 for v in reversed(releases.list_requests(ctx, "opal"))], ctx.audit.query())
    finally:
        ctx.engine.dispose()


def test_the_bare_command_expires_polls_and_syncs_as_the_job_account(env) -> None:  # type: ignore[no-untyped-def]
    done = release(env)
    assert done.returncode == EXIT_OK, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1 release request(s) past their expiry closed: 1"
    bc = next(line for line in lines if line.startswith("breast-cancer: "))
    assert "version 3 is newer than the champion, version 1: release request 2 opened" in bc
    assert "champion moved outside the console from (none) to 1 (recorded)" in bc
    assert "diabetes: registered model 'diabetes-gbr' is not in MLflow yet: nothing to request" in lines
    requests, audit = state(env)
    assert requests == [(1, "2", "expired", "opal"), (2, "3", "open", "scheduler")]  # expired first: 3 is new
    mine = [(e.actor, e.action, e.outcome) for e in audit if e.actor == "scheduler"]
    assert mine == [("scheduler", "release.expire", "success"), ("scheduler", "release.request", "success"),
                    ("scheduler", "alias.external_change", "success")]

    again = release(env)  # idempotent: the open request stands, nothing is recorded twice
    assert again.returncode == EXIT_OK, again.stderr
    assert again.stdout.splitlines()[0] == "0 release request(s) past their expiry closed"
    assert "version 3 already had release request 2 (open): nothing to request; no champion move" in again.stdout
    assert state(env)[0] == requests
    assert "Traceback" not in done.stderr + again.stderr


def test_poll_and_cycle_exit_codes(env) -> None:  # type: ignore[no-untyped-def]
    denied = release(env, "poll", "--as", "vic", "--model", "breast-cancer")
    assert denied.returncode == EXIT_DENIED
    assert "breast-cancer: permission denied: vic may not release.request on breast-cancer" in denied.stderr
    last = state(env)[1][-1]
    assert (last.actor, last.action, last.outcome) == ("vic", "release.request", "denied")
    unknown = release(env, "cycle", "--model", "no-such-model")
    assert unknown.returncode == EXIT_USAGE and "no-such-model" in unknown.stderr

    down = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{Path(env['VIGIL_DATA_DIR']) / 'gone' / 'mlflow.db'}"}
    polled = release(down, "poll")
    assert polled.returncode == EXIT_UNAVAILABLE
    failed = [line for line in polled.stderr.splitlines() if line.strip()]
    assert len(failed) == 2 and all(": unavailable: MLflow registry" in line and "(exit 5)" in line
                                    for line in failed), polled.stderr
    cycled = release(down)
    assert cycled.returncode == EXIT_UNAVAILABLE and "Traceback" not in cycled.stderr
    # expiry needs only the database: it still ran; no request was opened while MLflow was down
    assert cycled.stdout.splitlines()[0] == "1 release request(s) past their expiry closed: 1"
    assert state(env)[0] == [(1, "2", "expired", "opal")]
