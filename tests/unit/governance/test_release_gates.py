"""Quality gates: the vocabulary in the models file (old and new forms), the pure evaluation
(boundaries, no evidence, advisory) and the evidence read from a real MLflow registry."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from core.config import ApprovalPolicy, GateSpec, load_models_config
from core.errors import ConfigError, NotFound
from governance.release_gates import Evidence, MlflowVersions, blocking_failures, evaluate_gates, evidence_key

REPO = Path(__file__).resolve().parents[3]


def gates(**forms):  # type: ignore[no-untyped-def]
    return ApprovalPolicy.model_validate({"gates": forms}).gates


def test_the_shipped_models_file_still_loads_with_its_old_gate_form() -> None:
    config = load_models_config(REPO / "config" / "models.yaml")
    bc = config.get("breast-cancer").approval
    assert bc.gates["min_roc_auc"] == GateSpec(kind="min_metric", metric="roc_auc", threshold=0.95)
    assert [(s.name, s.role, s.approvals) for s in bc.chain] == [("review", "reviewer", 2),
                                                                 ("security", "security", 1)]
    dia = config.get("diabetes").approval
    assert [(s.name, s.role, s.approvals) for s in dia.chain] == [("review", "reviewer", 1)]  # the old form
    assert bc.request_expiry_days == 14
    assert config.get("diabetes").approval.gates["max_rmse"].kind == "max_metric"


def test_every_gate_form_parses_into_the_four_kinds() -> None:
    parsed = gates(max_drift_share=0.3, max_psi={"threshold": 0.2, "mode": "advisory"},
                   max_latency_p95_ms=250,
                   min_completeness_pct=99.5, floor={"kind": "min_metric", "metric": "f1", "threshold": 0.8})
    assert {n: (g.kind, g.metric, g.threshold, g.mode) for n, g in parsed.items()} == {
        "max_drift_share": ("max_drift_share", None, 0.3, "blocking"),
        "max_psi": ("max_psi", None, 0.2, "advisory"),
        "max_latency_p95_ms": ("max_latency_p95_ms", None, 250.0, "blocking"),
        "min_completeness_pct": ("min_completeness_pct", None, 99.5, "blocking"),
        "floor": ("min_metric", "f1", 0.8, "blocking"),
    }
    assert [evidence_key(g) for g in parsed.values()] == ["drift_share", "psi", "latency_p95_ms",
                                                         "completeness_pct", "metric:f1"]


@pytest.mark.parametrize(("approval", "message"), [
    ({"gates": {"accuracy": 0.9}}, "name it min_<metric>"),
    ({"gates": {"max_drift_share": 1.5}}, "share between 0 and 1"),
    ({"gates": {"min_completeness_pct": 101}}, "percentage"),
    ({"gates": {"g": {"kind": "min_metric", "threshold": 1}}}, "needs 'metric'"),
    ({"gates": {"min_accuracy": {"threshold": 0.9, "mode": "sometimes"}}}, "mode"),
    ({"stages": [{"name": "review"}, {"name": "review"}]}, "unique: review"),
    ({"stages": [{"name": "review", "approvals": 0}]}, "approvals"),
    ({"request_expiry_days": 0}, "request_expiry_days"),
])
def test_a_bad_approval_policy_names_the_key(tmp_path: Path, approval, message) -> None:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    raw["models"][0]["approval"] = approval
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="models\\[0\\]\\.approval") as info:
        load_models_config(path)
    assert message in str(info.value)


def test_thresholds_are_inclusive_and_direction_follows_the_kind() -> None:
    spec = gates(min_accuracy=0.9, max_rmse=65, max_latency_p95_ms=250)
    at_limit = evaluate_gates(spec, {"metric:accuracy": Evidence(0.9, "run a"),
                                     "metric:rmse": Evidence(65.0, "run a"),
                                     "latency_p95_ms": Evidence(250.0, "canary logs")})
    assert [r.status for r in at_limit] == ["pass", "pass", "pass"]
    beyond = evaluate_gates(spec, {"metric:accuracy": Evidence(0.8999, "run a"),
                                   "metric:rmse": Evidence(65.01, "run a"),
                                   "latency_p95_ms": Evidence(251.0, "canary logs")})
    assert [(r.status, r.value, r.threshold, r.source) for r in beyond] == [
        ("fail", 0.8999, 0.9, "run a"), ("fail", 65.01, 65.0, "run a"), ("fail", 251.0, 250.0, "canary logs")]
    assert [r.name for r in blocking_failures(beyond)] == ["min_accuracy", "max_rmse", "max_latency_p95_ms"]


def test_missing_or_non_finite_evidence_is_never_a_pass() -> None:
    spec = gates(min_accuracy=0.0, max_psi=1e9, min_completeness_pct=0)
    evidence = {"metric:accuracy": Evidence(math.nan, "run b"), "psi": Evidence(None, "drift run 7")}
    results = evaluate_gates(spec, evidence)
    assert [(r.status, r.value, r.source) for r in results] == [
        ("no evidence", None, "run b"), ("no evidence", None, "drift run 7"),
        ("no evidence", None, "no evidence")]
    assert len(blocking_failures(results)) == 3


def test_advisory_gates_are_reported_but_never_block() -> None:
    spec = gates(min_accuracy={"threshold": 0.9, "mode": "advisory"},
                 max_psi={"threshold": 0.1, "mode": "advisory"})
    results = evaluate_gates(spec, {"metric:accuracy": Evidence(0.5, "run c")})
    assert [r.status for r in results] == ["fail", "no evidence"]
    assert blocking_failures(results) == []


def test_evidence_and_author_come_from_a_real_mlflow_registry(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from governance.registry import ModelRegistry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("releases", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("bc-mlp")
    runs = []
    for accuracy, user in ((0.91, "alice"), (0.95, "bob")):
        run = client.create_run(experiment, tags={"mlflow.user": user})
        client.log_metric(run.info.run_id, "accuracy", accuracy)
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
        client.create_model_version("bc-mlp", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_model_version_tag("bc-mlp", "2", "author", "carol")
    source = MlflowVersions(ModelRegistry(uri))
    assert source.newest_version("bc-mlp") == "2"
    first, second = source.facts("bc-mlp", "1"), source.facts("bc-mlp", "2")
    assert (first.author, first.metrics, first.run_id) == ("alice", {"accuracy": 0.91}, runs[0])
    assert second.author == "carol"  # the explicit tag wins over the run's user
    [result] = evaluate_gates(gates(min_accuracy=0.93), second.evidence())
    assert (result.status, result.value) == ("pass", 0.95)
    assert result.source == f"mlflow run {runs[1]} metric accuracy"
    with pytest.raises(NotFound):
        source.facts("bc-mlp", "9")
