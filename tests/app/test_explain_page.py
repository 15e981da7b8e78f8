"""The Explainability page on stored SHAP reports: charts, attribution drift, the per-request
waterfall, and a clear message for a model without reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.actor import Actor
from tests.app.conftest import ADMIN, new_app, open_url_path, sign_in_as, texts

AT = datetime(2026, 9, 1, 12, tzinfo=UTC)  # away from the other page tests' log windows


@dataclass
class _Registry:
    model: Any
    reference: pd.DataFrame

    def champion(self, _name: str) -> Any:
        return type("V", (), {"version": "1"})()

    def load_model(self, _name: str, _version: str) -> Any:
        return self.model

    def reference_data(self, _name: str, _version: str) -> pd.DataFrame:
        return self.reference

    def log_artifact(self, *_args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def explain_results(installation):  # type: ignore[no-untyped-def]
    import pyarrow as pa
    from sklearn.ensemble import GradientBoostingRegressor

    from monitoring.explain import service
    from monitoring.logs.store import store_schema, write_partitioned

    ctx = installation.ctx
    spec = ctx.models.get("diabetes")
    names = spec.numeric_features
    rng = np.random.default_rng(5)
    reference = pd.DataFrame(rng.normal(size=(200, len(names))), columns=names)
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(
        reference.to_numpy(), 3 * reference["bmi"] + reference["s5"]
    )
    registry = _Registry(model, reference)

    window = reference.head(80).copy()
    window["bmi"] = 0.0
    n = len(window)
    columns: dict[str, Any] = {
        "timestamp": [AT - timedelta(hours=2, minutes=i) for i in range(n)],
        "model": ["diabetes"] * n,
        "version": ["1"] * n,
        "request_id": [f"dx-{i}" for i in range(n)],
        "prediction": ["1.0"] * n,
        "score": [None] * n,
        "label": [None] * n,
        "latency_ms": [5.0] * n,
        "status": ["ok"] * n,
        "error": [None] * n,
        "batch_size": [1] * n,
        "gpu_id": [None] * n,
        "gpu_utilization": [None] * n,
        "gpu_memory_mb": [None] * n,
        "source_file": ["explain-test"] * n,
        **{f"f_{f}": window[f].tolist() for f in names},
        "f_site": ["north"] * n,
    }
    write_partitioned(
        ctx.settings.logstore_dir,
        "diabetes",
        pa.Table.from_pydict(columns, schema=store_schema(spec)),
        "explain-test",
    )
    service.run_shap_report(
        ctx, Actor(ADMIN, "cli"), "diabetes", version="1", at=AT, background=40, explain=80, registry=registry
    )
    return registry


def _explain_page(inst, username: str):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), inst, username).run()
    open_url_path(at, "explain").run()
    assert not at.exception, at.exception
    return at


def test_viewer_sees_charts_and_attribution_drift(vigil_env, explain_results) -> None:
    at = _explain_page(vigil_env, "dora")  # viewer of diabetes only
    assert at.selectbox(key="explain.model").value == "diabetes"
    shown = texts(at)
    assert "Explainer: tree" in shown and "Additivity: holds" in shown
    assert "Attribution drift" in shown and "drifted" in shown
    assert len(at.get("plotly_chart")) >= 3  # importance, beeswarm, attribution drift over time
    ranks = next(d.value for d in at.dataframe if "reference rank" in d.value.columns)
    assert ranks.iloc[0]["feature"] == "bmi"


def test_a_request_gets_its_waterfall(vigil_env, explain_results, monkeypatch) -> None:
    from monitoring.explain import inputs

    # the registry the service reads through (MLflow in production)
    monkeypatch.setattr(inputs, "registry_for", lambda _ctx, registry=None: explain_results)
    at = _explain_page(vigil_env, "dora")
    at.text_input(key="explain.request_id").set_value("dx-3")
    next(b for b in at.button if b.label == "Explain").click().run()
    assert not at.exception, at.exception
    specs = [chart.proto.spec.replace(" ", "") for chart in at.get("plotly_chart")]
    assert any('"type":"waterfall"' in spec for spec in specs)
    assert "Version 1, tree explainer" in texts(at)

    at.text_input(key="explain.request_id").set_value("no-such-id")
    next(b for b in at.button if b.label == "Explain").click().run()
    assert "is not in the logs" in texts(at)


def test_a_model_without_reports_says_how_to_get_one(vigil_env, explain_results) -> None:
    at = _explain_page(vigil_env, "vera")
    at.selectbox(key="explain.model").set_value("breast-cancer").run()
    assert not at.exception
    assert "No SHAP report for breast" in texts(at) and "jobs.shap" in texts(at)
