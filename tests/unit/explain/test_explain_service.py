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
from core.errors import InvalidInput, NotFound, PermissionDenied
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


def _shap_runs(ctx: Any) -> list[Any]:
    """The stored job runs ``shap``, oldest first (read from the table: what the Overview shows)."""
    from sqlalchemy import select

    from core.tables import JobRun

    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(JobRun).where(JobRun.job == "shap").order_by(JobRun.id)).all()
        session.expunge_all()
        return list(rows)


def _grant(ctx: Any, username: str, role: str) -> None:
    from governance.identity import insert_user
    from governance.rbac import insert_grant

    with session_scope(ctx.engine) as session:
        insert_user(session, username, "a-long-test-password")
        insert_grant(session, username, role, "*", granted_by="test", reason="test")


def _write_logs(
    ctx: Any, model: str, frame: pd.DataFrame, *, start: datetime, version: str = "1", prefix: str = "req"
) -> list[str]:
    import pyarrow as pa

    from monitoring.logs.store import store_schema, write_partitioned

    spec = ctx.models.get(model)
    n = len(frame)
    ids = [f"{prefix}-{i}" for i in range(n)]
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
    write_partitioned(ctx.settings.logstore_dir, model, table, f"test-{prefix}")
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
    shown = service.report_chart_data(ctx, stored, viewer=VIEWER.username)
    assert [bar["feature"] for bar in shown.importance] == list(view.top_features(len(names)))
    assert shown.importance[0]["low"] <= shown.importance[0]["mean_abs"] <= shown.importance[0]["high"]
    assert {strip["feature"] for strip in shown.beeswarm} <= set(names)
    assert all(len(strip["shap"]) == len(strip["value"]) for strip in shown.beeswarm)
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
    assert audit[0].details["report_id"] == view.id and audit[0].details["seconds"] >= 0
    runs = _shap_runs(ctx)
    assert [r.status for r in runs] == ["success", "success"]
    assert {r.id for r in runs} == {a.details["job_run_id"] for a in audit}
    assert runs[0].details["report_id"] in {view.id, again.id}


def test_every_read_checks_the_viewer(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    view = service.run_shap_report(
        ctx, OPERATOR, "diabetes", at=AT, background=20, explain=30, registry=registry
    )
    stranger = "stranger"
    reads = {
        "current_report": lambda who: service.current_report(ctx, "diabetes", "1", viewer=who),
        "latest_report": lambda who: service.latest_report(ctx, "diabetes", viewer=who),
        "report_history": lambda who: service.report_history(ctx, "diabetes", viewer=who),
        "report_document": lambda who: service.report_document(ctx, view, viewer=who),
        "report_chart_data": lambda who: service.report_chart_data(ctx, view, viewer=who),
        "report_html": lambda who: service.report_html(ctx, view, viewer=who),
        "attribution_drift_over_time": lambda who: service.attribution_drift_over_time(
            ctx, "diabetes", viewer=who
        ),
        "drift_that_matters": lambda who: service.drift_that_matters(ctx, "diabetes", viewer=who),
    }
    for name, read in reads.items():
        with pytest.raises(PermissionDenied):
            read(stranger)
        read(VIEWER.username)  # a viewer of the model reads it
    assert service.report_document(ctx, view, viewer=VIEWER.username)["model"] == "diabetes"


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
    assert _shap_runs(ctx) == []  # refused before anything was recorded
    assert service.report_history(ctx, "diabetes") == []
    with pytest.raises(PermissionDenied):
        service.report_history(ctx, "diabetes", viewer="stranger")


def test_a_failed_run_is_audited_as_failed(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    with pytest.raises(NotFound):
        service.run_shap_report(ctx, OPERATOR, "diabetes", version="9", at=AT, registry=registry)
    failed = ctx.audit.query(action="shap.run", outcome="failed")
    assert len(failed) == 1 and failed[0].reason.startswith("NotFound")
    assert failed[0].details["version"] == "9" and failed[0].details["window"] == "1d"
    runs = _shap_runs(ctx)
    assert len(runs) == 1 and runs[0].status == "failed" and runs[0].id == failed[0].details["job_run_id"]


def test_a_bad_window_is_a_clear_error_and_audited(ctx, diabetes_setup) -> None:
    registry, _, _ = diabetes_setup
    with pytest.raises(InvalidInput, match="expected a positive number and a unit"):
        service.run_shap_report(ctx, OPERATOR, "diabetes", window="1 fortnight", at=AT, registry=registry)
    assert ctx.audit.query(action="shap.run", outcome="failed")[0].details["window"] == "1 fortnight"


def test_drift_that_matters_weights_a_real_drift_check_by_importance(sqlite_ctx) -> None:
    """A real drift check of ingested logs where age drifts far and bmi a little, and a real
    model that uses bmi alone: bmi, not age, is the drift that matters."""
    from sklearn.ensemble import GradientBoostingRegressor

    from monitoring.drift import service as drift_service
    from monitoring.logs.ingest import ingest_model
    from tests.unit.logs.loghelpers import BASE, add_user, diabetes_record, write_jsonl

    ctx = sqlite_ctx
    ops = add_user(ctx, "ops", "operator")
    day = timedelta(days=1)
    shifts = {"age": 2.0, "bmi": 0.7}  # day 1 against day 0, in standard deviations
    for d in range(2):
        records = []
        for k in range(400):
            at = BASE + d * day + k * day / 400
            record = diabetes_record(1000 * d + k, at, rng=np.random.default_rng(10 * d + k))
            for name, shift in shifts.items():
                record["features"][name] += shift * d
            records.append(record)
        write_jsonl(ctx.settings.data_dir / "logs/diabetes" / f"d{d}.jsonl", records)
    ingest_model(ctx, ops, "diabetes", versions=["1"])
    drift_service.fit_reference_profile(
        ctx, ops, "diabetes", "1", source="window", start=BASE, end=BASE + day
    )
    check = drift_service.run_drift_check(ctx, ops, "diabetes", window="1d", at=BASE + 2 * day, report=False)

    names = ctx.models.get("diabetes").numeric_features
    reference = pd.DataFrame(np.random.default_rng(1).normal(size=(200, len(names))), columns=names)
    model = GradientBoostingRegressor(n_estimators=20, random_state=0)
    model.fit(reference.to_numpy(), 4 * reference["bmi"])
    registry = FakeRegistry({("diabetes-gbr", "1"): model}, {"diabetes-gbr": reference})
    report = service.run_shap_report(
        ctx, ops, "diabetes", version="1", at=BASE + 2 * day, background=30, explain=100, registry=registry
    )
    assert report.sample_source == "window"

    view = service.drift_that_matters(ctx, "diabetes", viewer=ops.username)
    assert view is not None and view.report_id == report.id and view.drift_checked_at == check.at
    impact = {f.feature: f for f in view.result.features}
    psi = {f.feature: f.psi for f in check.features}
    assert psi["age"] > psi["bmi"] > 0.1  # age drifted more ...
    assert [f.feature for f in view.result.features][0] == "bmi"  # ... but bmi is what the model uses
    total = sum(report.importance.values())
    for name in names:  # severity (the check's PSI) x share of mean |SHAP|, computed by hand
        assert impact[name].impact == pytest.approx(psi[name] * report.importance[name] / total)
    assert impact["site"].impact == 0 and not impact["site"].is_model_input


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


def test_prepared_explainers_are_reused_bounded_and_prepared_once(sqlite_ctx) -> None:
    """The per-request cache: a second lookup reuses the prepared explainer, at most PREPARED_MAX
    are kept (the least recently used goes), and concurrent lookups prepare it once."""
    import threading
    import time

    from sklearn.ensemble import GradientBoostingRegressor

    from monitoring.explain import per_request

    ctx = sqlite_ctx
    names = ctx.models.get("diabetes").numeric_features
    reference = pd.DataFrame(np.random.default_rng(3).normal(size=(120, len(names))), columns=names)
    model = GradientBoostingRegressor(n_estimators=10, random_state=0)
    model.fit(reference.to_numpy(), reference["bmi"])
    versions = [str(v) for v in range(1, per_request.PREPARED_MAX + 2)]  # one more than the cache holds
    registry = FakeRegistry({("diabetes-gbr", v): model for v in versions}, {"diabetes-gbr": reference})
    _grant(ctx, VIEWER.username, "viewer")
    ids = {
        v: _write_logs(ctx, "diabetes", reference.head(2), start=AT, version=v, prefix=f"v{v}")[0]
        for v in versions
    }

    before = per_request.prepared_cache_info()
    first = service.explain_request(ctx, VIEWER, "diabetes", ids["1"], registry=registry)
    again = service.explain_request(ctx, VIEWER, "diabetes", ids["1"], registry=registry)
    after = per_request.prepared_cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert again == first and first.background_source == "reference"

    for v in versions[1:]:  # PREPARED_MAX more versions push version 1 out
        service.explain_request(ctx, VIEWER, "diabetes", ids[v], registry=registry)
    full = per_request.prepared_cache_info()
    assert full.maxsize == per_request.PREPARED_MAX and full.currsize == per_request.PREPARED_MAX
    service.explain_request(ctx, VIEWER, "diabetes", ids["1"], registry=registry)
    assert per_request.prepared_cache_info().misses == full.misses + 1  # prepared again

    class SlowRegistry(FakeRegistry):  # loading takes a while, as from MLflow: the lookups overlap
        def load_model(self, registered_model: str, version: str | int) -> Any:
            time.sleep(0.2)
            return super().load_model(registered_model, version)

    slow = SlowRegistry(registry.models, registry.reference)
    newest = versions[1]  # evicted by version 1's return: not in the cache now
    start = threading.Barrier(6)
    results: list[Any] = []

    def lookup() -> None:
        start.wait()
        results.append(service.explain_request(ctx, VIEWER, "diabetes", ids[newest], registry=slow))

    misses = per_request.prepared_cache_info().misses
    threads = [threading.Thread(target=lookup) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert per_request.prepared_cache_info().misses == misses + 1
