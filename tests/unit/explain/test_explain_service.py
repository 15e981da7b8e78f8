"""The explanation service on each database backend: stored reports, permissions, audit,
attribution drift, drift that matters and per-request explanations.

The registry is a stand-in with the contract of governance.registry.ModelRegistry (load_model,
reference_data, champion, log_artifact); the log store is the real Parquet store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.actor import Actor
from core.db import session_scope
from core.errors import NotFound, PermissionDenied
from monitoring.explain import service

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPERATOR = Actor("olga", "cli")
VIEWER = Actor("vic", "ui")
ADMIN = Actor("ada", "ui")


@dataclass
class FakeVersion:
    version: str


@dataclass
class FakeRegistry:
    models: dict[tuple[str, str], Any]
    reference: dict[str, pd.DataFrame]
    champion_version: str = "1"
    logged: list[tuple[str, str, str]] = field(default_factory=list)

    def champion(self, registered_model: str) -> FakeVersion:
        return FakeVersion(self.champion_version)

    def load_model(self, registered_model: str, version: str | int) -> Any:
        try:
            return self.models[(registered_model, str(version))]
        except KeyError:
            raise NotFound(f"{registered_model} v{version}") from None

    def reference_data(self, registered_model: str, version: str | int) -> pd.DataFrame:
        return self.reference[registered_model]

    def log_artifact(
        self, registered_model: str, version: str | int, local_path: str, artifact_path: str
    ) -> None:
        assert Path(local_path).is_file()
        self.logged.append((registered_model, str(version), Path(local_path).name))


def _grant(ctx: Any, username: str, role: str) -> None:
    from governance.identity import insert_user
    from governance.rbac import insert_grant

    with session_scope(ctx.engine) as session:
        insert_user(session, username, "a-long-test-password")
        insert_grant(session, username, role, "*", granted_by="test", reason="test")


def _write_logs(
    ctx: Any, model: str, frame: pd.DataFrame, *, start: datetime, version: str = "1"
) -> list[str]:
    import pyarrow as pa

    from monitoring.logs.store import store_schema, write_partitioned

    spec = ctx.models.get(model)
    n = len(frame)
    ids = [f"req-{i}" for i in range(n)]
    columns: dict[str, Any] = {
        "timestamp": [start + timedelta(minutes=i) for i in range(n)],
        "model": [model] * n,
        "version": [version] * n,
        "request_id": ids,
        "prediction": ["1"] * n,
        "score": [0.5] * n,
        "label": [None] * n,
        "latency_ms": [10.0] * n,
        "status": ["ok"] * n,
        "error": [None] * n,
        "batch_size": [1] * n,
        "gpu_id": [None] * n,
        "gpu_utilization": [None] * n,
        "gpu_memory_mb": [None] * n,
        "source_file": ["test.jsonl"] * n,
    }
    for feat in spec.features:
        if feat.type == "numeric":
            columns[f"f_{feat.name}"] = frame[feat.name].astype(float).tolist()
        else:
            columns[f"f_{feat.name}"] = [f"{feat.name}-{i % 3}" for i in range(n)]
    table = pa.Table.from_pydict(columns, schema=store_schema(spec))
    write_partitioned(ctx.settings.logstore_dir, model, table, "test")
    return ids


@pytest.fixture
def diabetes_setup(ctx):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import GradientBoostingRegressor

    spec = ctx.models.get("diabetes")
    rng = np.random.default_rng(0)
    names = spec.numeric_features
    reference = pd.DataFrame(rng.normal(size=(300, len(names))), columns=names)
    reference["site"] = "a"
    target = 3 * reference["bmi"] + reference["s5"]
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(
        reference[names].to_numpy(), target
    )
    registry = FakeRegistry(
        {("diabetes-gbr", "1"): model, ("diabetes-gbr", "2"): model}, {"diabetes-gbr": reference}
    )
    _grant(ctx, OPERATOR.username, "operator")
    _grant(ctx, VIEWER.username, "viewer")
    return registry, reference, names


def test_report_is_stored_archived_and_current(ctx, diabetes_setup) -> None:
    registry, reference, names = diabetes_setup
    current = reference[names].copy()
    current["bmi"] = 0.0  # the window no longer varies in bmi: its attribution collapses
    _write_logs(ctx, "diabetes", current.head(200), start=AT - timedelta(hours=6))

    assert service.current_report(ctx, "diabetes", "1") is None
    view = service.run_shap_report(
        ctx, OPERATOR, "diabetes", window="1d", at=AT, background=50, explain=150, registry=registry
    )
    assert view.version == "1" and view.is_current
    assert view.explainer == "tree" and view.device == "cpu"
    assert view.sample_source == "window" and view.explained_rows == 150 and view.background_rows == 50
    assert view.additivity_ok
    assert view.top_features(1) == ("s5",)

    stored = service.current_report(ctx, "diabetes", "1")
    assert stored == view
    doc = service.report_document(ctx, stored)
    assert doc["model"] == "diabetes" and doc["samples"]["explained"] == 150
    assert doc["additivity"]["ok"] is True and doc["attribution_drift"]["drifted"] is True
    page = service.report_html(ctx, stored).decode()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert len(page) < 300_000
    assert {name for *_, name in registry.logged} == {"shap_report.json", "shap_report.html"}
    assert view.mlflow_logged

    drift = service.attribution_drift_over_time(ctx, "diabetes")
    assert len(drift) == 1 and drift[0].drifted and drift[0].report_id == view.id
    moved = {c["feature"]: c for c in drift[0].rank_changes}
    assert moved["bmi"]["reference_rank"] == 1 and moved["bmi"]["current_rank"] > 1

    again = service.run_shap_report(
        ctx, OPERATOR, "diabetes", window="1d", at=AT, background=50, explain=150, registry=registry
    )
    assert service.current_report(ctx, "diabetes", "1").id == again.id
    history = service.report_history(ctx, "diabetes", viewer=VIEWER.username)
    assert [r.id for r in history] == [again.id, view.id]
    assert [r.is_current for r in history] == [True, False]
    assert again.importance == view.importance  # fixed seed: the same report content
    assert again.reference_importance == view.reference_importance  # reused, not recomputed

    audit = ctx.audit.query(action="shap.run", outcome="success")
    assert len(audit) == 2 and audit[0].resource == "diabetes"


def test_an_empty_window_explains_the_reference_and_says_so(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    view = service.run_shap_report(
        ctx, OPERATOR, "diabetes", version=2, at=AT, background=40, explain=60, registry=registry
    )
    assert view.version == "2" and view.sample_source == "reference"
    assert any("no logged rows" in note for note in view.notes)
    assert service.attribution_drift_over_time(ctx, "diabetes") == []
    assert service.current_report(ctx, "diabetes", "1") is None


def test_permission_is_checked_and_a_refusal_is_audited(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    with pytest.raises(PermissionDenied):
        service.run_shap_report(ctx, VIEWER, "diabetes", at=AT, registry=registry)
    denied = ctx.audit.query(action="shap.run", outcome="denied")
    assert len(denied) == 1 and denied[0].actor == VIEWER.username
    assert service.report_history(ctx, "diabetes") == []
    with pytest.raises(PermissionDenied):
        service.report_history(ctx, "diabetes", viewer="stranger")


def test_a_failed_run_is_audited_as_failed(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    with pytest.raises(NotFound):
        service.run_shap_report(ctx, OPERATOR, "diabetes", version="9", at=AT, registry=registry)
    failed = ctx.audit.query(action="shap.run", outcome="failed")
    assert len(failed) == 1 and "NotFound" in failed[0].details["error"]


def test_drift_that_matters_weights_drift_by_importance(sqlite_ctx, monkeypatch) -> None:
    ctx = sqlite_ctx
    from sklearn.ensemble import GradientBoostingRegressor

    names = ctx.models.get("diabetes").numeric_features
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(rng.normal(size=(200, len(names))), columns=names)
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(
        reference.to_numpy(), 4 * reference["bmi"]
    )
    registry = FakeRegistry({("diabetes-gbr", "1"): model}, {"diabetes-gbr": reference})
    _grant(ctx, OPERATOR.username, "operator")
    service.run_shap_report(
        ctx, OPERATOR, "diabetes", version="1", at=AT, background=30, explain=50, registry=registry
    )

    @dataclass(frozen=True)
    class Feature:
        feature: str
        psi: float | None
        severity: str
        drifted: bool

    @dataclass(frozen=True)
    class Run:
        at: datetime
        features: tuple[Feature, ...]

    run = Run(
        AT,
        (
            Feature("age", 0.6, "significant", True),
            Feature("bmi", 0.3, "significant", True),
            Feature("site", 0.9, "significant", True),
            Feature("s1", None, "none", False),
        ),
    )
    monkeypatch.setattr(service, "_latest_drift", lambda _ctx, _model: run)
    view = service.drift_that_matters(ctx, "diabetes")
    order = [f.feature for f in view.result.features]
    assert order[0] == "bmi"  # less drifted than age, but it is what the model uses
    assert order.index("bmi") < order.index("age")
    assert next(f for f in view.result.features if f.feature == "site").impact == 0


@pytest.fixture
def breast_cancer_setup(ctx, torch_mlp):  # type: ignore[no-untyped-def]
    spec = ctx.models.get("breast-cancer")
    names = spec.numeric_features
    rng = np.random.default_rng(2)
    reference = pd.DataFrame(rng.normal(loc=5.0, scale=2.0, size=(150, len(names))), columns=names)
    model = torch_mlp(len(names), mean=reference.mean().to_numpy(), scale=reference.std().to_numpy())
    registry = FakeRegistry(
        {("breast-cancer-mlp", "3"): model}, {"breast-cancer-mlp": reference}, champion_version="3"
    )
    _grant(ctx, VIEWER.username, "viewer")
    _grant(ctx, OPERATOR.username, "operator")
    _grant(ctx, ADMIN.username, "admin")
    ids = _write_logs(ctx, "breast-cancer", reference.head(20), start=AT - timedelta(hours=1), version="3")
    return registry, ids, model


def test_explain_request_waterfall(ctx, breast_cancer_setup) -> None:
    registry, ids, _ = breast_cancer_setup
    report = service.run_shap_report(
        ctx, OPERATOR, "breast-cancer", at=AT, background=30, explain=20, registry=registry
    )
    assert report.explainer == "deep" and report.additivity_ok and report.version == "3"

    result = service.explain_request(ctx, VIEWER, "breast-cancer", ids[4], registry=registry)
    assert result.version == "3" and result.explainer == "deep"
    assert result.background_source == f"report {report.id}"
    total = sum(c.shap for c in result.contributions) + result.base_value
    assert total == pytest.approx(result.output, abs=1e-4)
    assert abs(result.contributions[0].shap) >= abs(result.contributions[-1].shap)
    assert result.metadata["patient_zip"] == "hidden" and result.metadata["site"] != "hidden"
    admin_view = service.explain_request(ctx, ADMIN, "breast-cancer", ids[4], registry=registry)
    assert admin_view.metadata["patient_zip"] != "hidden"

    with pytest.raises(NotFound):
        service.explain_request(ctx, VIEWER, "breast-cancer", "no-such-request", registry=registry)
    with pytest.raises(PermissionDenied):
        service.explain_request(ctx, Actor("stranger", "ui"), "breast-cancer", ids[0], registry=registry)
    assert ctx.audit.query(action="model.view", outcome="denied")
