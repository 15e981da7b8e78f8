"""The SHAP job on the demo's real models, registered in a local MLflow registry (SQLite):
the pickled torch BreastCancerMLP is explained by DeepExplainer with additivity holding, the
sklearn GradientBoostingRegressor by TreeExplainer, and the reports land in MLflow beside the
version."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import session_scope

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # trains the demo models, runs SHAP
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_registry(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from core.context import AppContext
    from core.settings import Settings
    from demo import data as demo_data
    from demo import models as demo_models
    from demo.publish import client_for, register_version
    from governance.identity import insert_user
    from governance.rbac import insert_grant

    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
        "VIGIL_JOB_USER": "scheduler",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ctx = AppContext.create(Settings.from_env(env))
    with session_scope(ctx.engine) as session:
        insert_user(session, "scheduler", None, is_service=True)
        insert_grant(session, "scheduler", "operator", "*", granted_by="test", reason="test")
    client = client_for(ctx.settings)
    registered = {}
    for model, registered_model in (("breast-cancer", "breast-cancer-mlp"), ("diabetes", "diabetes-gbr")):
        dataset = demo_data.load(model)
        spec = demo_models.SPECS[model][-1]
        trained, metrics = demo_models.train(dataset, spec)
        registered[model] = register_version(
            client, ctx.settings, registered_model, "demo", dataset, spec, trained, metrics
        )
    yield ctx, registered, client
    ctx.engine.dispose()


def test_the_job_explains_every_demo_version_and_logs_the_report(demo_registry) -> None:
    from jobs import shap as shap_job
    from monitoring.explain import service

    ctx, registered, client = demo_registry
    assert shap_job.main(["--model", "breast-cancer", "--all-versions", "--explain", "300"]) == 0
    assert (
        shap_job.main(["--model", "diabetes", "--version", registered["diabetes"], "--explain", "200"]) == 0
    )

    torch_report = service.current_report(ctx, "breast-cancer", registered["breast-cancer"])
    assert torch_report is not None
    assert torch_report.explainer == "deep" and torch_report.additivity_ok
    assert torch_report.additivity_max_error < 1e-4
    assert torch_report.sample_source == "reference"  # no logs in this registry's data dir
    assert torch_report.mlflow_logged
    assert len(torch_report.importance) == 30

    tree_report = service.current_report(ctx, "diabetes", registered["diabetes"])
    assert tree_report is not None and tree_report.explainer == "tree" and tree_report.additivity_ok

    version = client.get_model_version("breast-cancer-mlp", registered["breast-cancer"])
    logged = {Path(a.path).name for a in client.list_artifacts(version.run_id, "shap")}
    assert logged == {"shap_report.json", "shap_report.html"}

    from core.runs import latest_run_per_job

    runs = [r for r in latest_run_per_job(ctx.engine) if r.job == "shap"]
    assert runs and all(r.status == "success" for r in runs)
    audited = ctx.audit.query(action="shap.run", outcome="success")  # one governed run per report
    assert {a.details["report_id"] for a in audited} == {torch_report.id, tree_report.id}
    assert {r.id for r in runs} <= {a.details["job_run_id"] for a in audited}
