"""`python -m jobs.release rollback` and `sync` as a script sees them (output, exit codes, the audit
log), run as real subprocesses against a SQLite database and a real (SQLite-backed) MLflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.context import AppContext
from core.settings import Settings
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.unit.governance.release_fixtures import create_accounts
from tests.unit.governance.test_promotion import RM, make_versions
from tests.unit.governance.test_release_cli import audit_tail, release

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    values = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIGIL_TOKEN")}
    values.update({"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO / "config" / "models.yaml"),
                   "MLFLOW_TRACKING_URI": uri, "VIGIL_DEMO": "true"})
    make_versions(uri, tmp_path, 3, champion="2")
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(RM, "previous-champion", "1")
    ctx = AppContext.create(Settings.from_env(values))
    create_accounts(ctx)
    ctx.engine.dispose()
    return values


def aliases(env: dict[str, str]) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = env["MLFLOW_TRACKING_URI"]
    found = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(RM).aliases
    return {str(a): str(v) for a, v in found.items()}


def test_rollback_cli_prints_old_and_new_version_and_refuses_without_permission(env) -> None:  # type: ignore[no-untyped-def]
    denied = release(env, "rollback", "--as", "vic", "--model", "breast-cancer", "--reason", "p99 spike")
    assert denied.returncode == EXIT_DENIED, denied.stderr
    assert "vic may not model.rollback on breast-cancer" in denied.stderr
    last = audit_tail(env)[-1]
    assert (last.actor, last.action, last.outcome) == ("vic", "model.rollback", "denied")
    assert aliases(env) == {"champion": "2", "previous-champion": "1"}

    done = release(env, "rollback", "--as", "opal", "--model", "breast-cancer", "--reason", "p99 spike")
    assert done.returncode == EXIT_OK, done.stderr
    assert "old version: 2" in done.stdout and "new version: 1" in done.stdout
    assert aliases(env) == {"champion": "1", "previous-champion": "2"}
    entry = [e for e in audit_tail(env) if e.action == "model.rollback"][-1]
    assert (entry.actor, entry.outcome, entry.details["old_version"], entry.details["new_version"],
            entry.details["reason"]) == ("opal", "success", "2", "1", "p99 spike")

    to = release(env, "rollback", "--as", "opal", "--model", "breast-cancer", "--reason", "try 3", "--to", "3")
    assert to.returncode == EXIT_OK and "old version: 1" in to.stdout and "new version: 3" in to.stdout
    unknown = release(env, "rollback", "--as", "opal", "--model", "breast-cancer", "--reason", "x", "--to", "7")
    assert unknown.returncode == EXIT_USAGE and "no version 7" in unknown.stderr
    same = release(env, "rollback", "--as", "opal", "--model", "breast-cancer", "--reason", "x", "--to", "3")
    assert same.returncode == EXIT_FAILED and "already the champion" in same.stderr
    blank = release(env, "rollback", "--as", "opal", "--model", "breast-cancer", "--reason", " ")
    assert blank.returncode == EXIT_USAGE and "needs a reason" in blank.stderr
    assert aliases(env) == {"champion": "3", "previous-champion": "1"}


def test_sync_cli_records_a_move_made_in_mlflow_directly(env) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    first = release(env, "sync", "--as", "opal", "--model", "breast-cancer")
    assert first.returncode == EXIT_OK, first.stderr  # the champion the console never saw move
    assert "from (none) to 2" in first.stdout and "1 outside change(s)" in first.stdout
    quiet = release(env, "sync", "--as", "opal", "--model", "breast-cancer")
    assert quiet.returncode == EXIT_OK and "0 outside change(s)" in quiet.stdout
    uri = env["MLFLOW_TRACKING_URI"]
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(RM, "champion", "3")
    moved = release(env, "sync", "--as", "opal", "--model", "breast-cancer")
    assert moved.returncode == EXIT_OK and "from 2 to 3" in moved.stdout
    entry = [e for e in audit_tail(env) if e.action == "alias.external_change"][-1]
    assert (entry.details["from_version"], entry.details["to_version"]) == ("2", "3")
    assert release(env, "sync", "--as", "vic", "--model", "breast-cancer").returncode == EXIT_DENIED
