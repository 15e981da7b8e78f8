"""`python -m jobs.release`: what a script or CI job sees (output and exit codes), run as real
subprocesses against a SQLite database and a real (SQLite-backed) MLflow registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.config import load_models_config
from core.context import AppContext
from core.settings import Settings
from governance import identity
from governance.rbac import grant
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.unit.governance.release_fixtures import ADMIN, create_accounts

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    values = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIGIL_TOKEN")}
    values.update({"VIGIL_DATA_DIR": str(tmp_path / "data"),
                   "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
                   "MLFLOW_TRACKING_URI": uri, "VIGIL_DEMO": "true"})
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("breast-cancer-mlp")
    # the data logged with each version, as the demo logs it: the blocking completeness gate reads it
    spec = load_models_config(REPO / "config" / "models.yaml").get("breast-cancer")
    reference = tmp_path / "reference" / "reference.parquet"
    reference.parent.mkdir()
    pd.DataFrame({f.name: [1.0, 2.0, 3.0] if f.type == "numeric" else ["a", "b", "c"]
                  for f in spec.features}).to_parquet(reference, index=False)
    for accuracy in (0.91, 0.94):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", accuracy)
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.log_artifact(run.info.run_id, str(reference), "reference")
        client.create_model_version("breast-cancer-mlp", f"{run.info.artifact_uri}/model",
                                    run_id=run.info.run_id)
    ctx = AppContext.create(Settings.from_env(values))
    create_accounts(ctx)
    identity.create_user(ctx, ADMIN, "sid", "sid-password")  # the shipped chain ends with a security stage
    grant(ctx, ADMIN, "sid", "security", "breast-cancer", reason="release tests")
    ctx.engine.dispose()
    return values


def release(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.release", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def audit_tail(env: dict[str, str]):  # type: ignore[no-untyped-def]
    ctx = AppContext.create(Settings.from_env(env))
    try:
        return ctx.audit.query()
    finally:
        ctx.engine.dispose()


def test_release_cli_exit_codes(env) -> None:  # type: ignore[no-untyped-def]
    denied = release(env, "request", "--as", "vic", "--model", "breast-cancer")
    assert denied.returncode == EXIT_DENIED
    assert "vic may not release.request on breast-cancer" in denied.stderr
    last = audit_tail(env)[-1]
    assert (last.actor, last.action, last.outcome) == ("vic", "release.request", "denied")

    opened = release(env, "request", "--as", "opal", "--model", "breast-cancer", "--reason", "weekly retrain")
    assert opened.returncode == EXIT_OK, opened.stderr
    assert "request 1: breast-cancer version 2 is open (stage review)" in opened.stdout
    assert "min_roc_auc" in opened.stdout and "pass" in opened.stdout and "0.94" in opened.stdout

    assert release(env, "approve", "--as", "opal", "1").returncode == EXIT_DENIED  # operator
    assert audit_tail(env)[-1].outcome == "denied"
    no_comment = release(env, "reject", "--as", "rita", "1", "--comment", " ")
    assert no_comment.returncode == EXIT_USAGE and "needs a comment" in no_comment.stderr
    assert release(env, "reject", "--as", "rita", "1").returncode == EXIT_USAGE  # --comment is required

    first = release(env, "approve", "--as", "rita", "1", "--comment", "metrics fine")
    assert first.returncode == EXIT_OK and "review       reviewer  1/2 approved by rita" in first.stdout
    again = release(env, "approve", "--as", "rita", "1")
    assert again.returncode == EXIT_DENIED and "one decision per request" in again.stderr
    wrong_stage = release(env, "approve", "--as", "rob", "1", "--stage", "security")
    assert wrong_stage.returncode == EXIT_FAILED and "at stage 'review'" in wrong_stage.stderr

    listed = release(env, "list", "--as", "rob", "--decidable")
    assert listed.returncode == EXIT_OK and "breast-cancer" in listed.stdout
    assert release(env, "list", "--as", "rita", "--decidable").stdout.count("breast-cancer") == 0

    reviewed = release(env, "approve", "--as", "rob", "1")
    assert reviewed.returncode == EXIT_OK and "is open (stage security)" in reviewed.stdout
    assert release(env, "approve", "--as", "ruth", "1").returncode == EXIT_DENIED  # a reviewer, not security
    done = release(env, "approve", "--as", "sid", "1")
    assert done.returncode == EXIT_OK and "is promoted" in done.stdout  # the final approval promotes
    assert "promoted: champion (none) -> 2; no deployment hook configured" in done.stdout
    shown = release(env, "show", "--as", "vic", "1")
    assert shown.returncode == EXIT_OK and "rita approved review: metrics fine" in shown.stdout
    assert release(env, "show", "--as", "vic", "99").returncode == EXIT_USAGE
    unknown = release(env, "request", "--as", "opal", "--model", "breast-cancer", "--version", "7")
    assert unknown.returncode == EXIT_USAGE and "no version 7" in unknown.stderr
