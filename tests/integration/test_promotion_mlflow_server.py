"""Promotion, rollback and outside-change detection against a real MLflow tracking server process
on 127.0.0.1 (tests/mlflow_server.py), with the deployment hook a webhook on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from core.actor import Actor
from core.config import ModelsConfig
from core.context import AppContext
from core.settings import Settings
from governance import promotion, releases
from tests.mlflow_server import mlflow_server  # noqa: F401  (fixture)
from tests.unit.governance.release_fixtures import BC, create_accounts, two_stage_models
from tests.unit.governance.test_promotion import T0, A, webhook  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
RM = "promotion-it-bc"  # its own registered model on the session's shared server


def configured(config: ModelsConfig, url: str) -> ModelsConfig:
    raw = two_stage_models(config).model_dump()
    for m in raw["models"]:
        if m["name"] == BC:
            m["registered_model"], m["deploy_hook"] = RM, {"url": url, "timeout_seconds": 5}
    return ModelsConfig.model_validate(raw)


@pytest.fixture
def sctx(mlflow_server, models_config, webhook, tmp_path: Path) -> Iterator[AppContext]:  # noqa: F811
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment("promotion-it")
    client.create_registered_model(RM)
    for _ in range(3):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", 0.93)
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.create_model_version(RM, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(RM, "champion", "1")
    settings = Settings.from_env({"VIGIL_DATA_DIR": str(tmp_path / "data"), "MLFLOW_TRACKING_URI": mlflow_server,
                                  "DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.db'}"})
    context = AppContext.create(settings, models=configured(models_config, webhook[0]))
    create_accounts(context)
    yield context
    context.engine.dispose()


def test_promotion_rollback_and_outside_move_on_a_real_mlflow_server(sctx, webhook, mlflow_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _, handler = webhook
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)

    def aliases() -> dict[str, str]:
        return {str(a): str(v) for a, v in client.get_registered_model(RM).aliases.items()}

    view = releases.request_release(sctx, A("opal"), BC, "2", now=T0)
    assert view.blocking_gates == []
    releases.approve(sctx, A("rita"), view.id, now=T0)
    releases.approve(sctx, A("rob"), view.id, now=T0)
    handler.status = 500
    failed = releases.approve(sctx, A("root"), view.id, now=T0)
    assert failed.state == "promotion_failed" and "answered HTTP 500" in failed.closed_reason
    assert aliases() == {"champion": "1"}

    handler.status = 200
    assert promotion.retry_promotion(sctx, A("ruth"), view.id, now=T0).state == "promoted"
    assert aliases() == {"champion": "2", "previous-champion": "1"}

    move = promotion.rollback(sctx, A("opal"), BC, reason="p99 spike")
    assert (move.old_version, move.new_version) == ("2", "1")
    assert aliases() == {"champion": "1", "previous-champion": "2"}
    assert handler.bodies[-1]["event"] == "rollback" and handler.bodies[-1]["new_version"] == "1"

    client.set_registered_model_alias(RM, "champion", "3")  # someone uses MLflow directly
    [seen] = promotion.sync_aliases(sctx, Actor("opal", "job"), model=BC)
    assert (seen.from_version, seen.to_version, seen.kind) == ("1", "3", "external")
    kinds = [m.kind for m in promotion.alias_history(sctx, "vic", BC)]
    assert kinds[0] == "external" and kinds.count("rollback") == 2 and kinds.count("restore") == 2
    assert sctx.audit.verify().ok
