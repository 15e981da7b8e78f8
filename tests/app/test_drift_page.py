"""The Drift page on stored results: a viewer sees the latest run and its feature table; the
values of the PII-tagged feature (patient_zip) are hidden from a viewer and shown to an admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.actor import Actor
from tests.app.conftest import ADMIN, new_app, open_url_path, sign_in_as, texts

BASE = datetime(2026, 10, 1, tzinfo=UTC)
ZIP = "90210-SECRET"


def _record(spec, i: int, ts: datetime, rng: np.random.Generator, shift: float) -> dict:
    feats = {
        f.name: float(rng.normal(shift if k < 5 else 0.0, 1.0))
        for k, f in enumerate(spec.features)
        if f.type == "numeric"
    }
    feats["site"] = ["north", "south"][i % 2]
    feats["patient_zip"] = ZIP if i % 7 == 0 else f"1000{i % 5}"
    score = float(1 / (1 + np.exp(-feats["mean_radius"])))
    return {
        "timestamp": ts.isoformat(),
        "model": "breast-cancer",
        "version": "1",
        "request_id": f"q{i}",
        "features": feats,
        "prediction": int(score > 0.5),
        "score": score,
        "label": int(score > 0.4),
        "latency_ms": 20.0,
        "status": "ok",
    }


@pytest.fixture(scope="module")
def stored_results(installation):
    from monitoring.drift import service
    from monitoring.logs.ingest import ingest_model

    ctx = installation.ctx
    spec = ctx.models.get("breast-cancer")
    admin = Actor(ADMIN, "cli")
    rng = np.random.default_rng(7)
    root = ctx.settings.data_dir / "logs" / "breast-cancer"
    root.mkdir(parents=True, exist_ok=True)
    for day in range(3):
        lines = [
            json.dumps(
                _record(
                    spec,
                    day * 1000 + k,
                    BASE + timedelta(days=day, minutes=5 * k),
                    rng,
                    1.0 if day == 2 else 0.0,
                )
            )
            for k in range(200)
        ]
        if day == 0:
            bad = _record(spec, 70_000, BASE, rng, 0.0)  # i % 7 == 0: carries ZIP
            bad["latency_ms"] = "slow"
            lines.append(json.dumps(bad))
        (root / f"day{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_model(ctx, admin, "breast-cancer", versions=["1"])
    service.fit_reference_profile(
        ctx, admin, "breast-cancer", "1", source="window", start=BASE, end=BASE + timedelta(days=1)
    )
    service.backfill(ctx, admin, "breast-cancer", BASE, BASE + timedelta(days=3), window="1d", report="none")
    return installation


def _drift_page(inst, username: str):
    at = sign_in_as(new_app(), inst, username).run()
    open_url_path(at, "drift").run()
    assert not at.exception, at.exception
    return at


def _shown(at) -> str:
    parts = [texts(at)]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(parts)


def test_viewer_sees_table_but_no_pii_values(vigil_env, stored_results):
    at = _drift_page(vigil_env, "vera")
    assert "Latest run" in texts(at)
    assert at.selectbox(key="drift.model").value == "breast-cancer"
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)
    # long form: one row per (feature, method); numeric ks + psi, categorical psi + chi2
    assert len(table) == 64 and table["feature"].nunique() == 32 and table.iloc[0]["feature_drifted"]
    assert set(table["method"]) == {"ks", "psi", "chi2"} and not table.duplicated(["feature", "method"]).any()
    assert {"statistic", "p_value", "p_value_adjusted", "threshold", "drifted", "severity"} <= set(table.columns)
    assert "Drifted features: " in texts(at) and "of 32" in texts(at)
    at.selectbox(key="drift.feature").set_value("patient_zip").run()
    assert not at.exception
    assert "is tagged PII" in texts(at)
    assert ZIP not in _shown(at)
    assert "wrong type: latency\\_ms" in texts(at) or "wrong type: latency_ms" in _shown(at)
    at.selectbox(key="drift.model").set_value("diabetes").run()  # nothing stored: a clear notice
    assert not at.exception
    assert "No drift check has run for diabetes yet" in texts(at)


def test_admin_sees_pii_values(vigil_env, stored_results):
    at = _drift_page(vigil_env, ADMIN)
    at.selectbox(key="drift.feature").set_value("patient_zip").run()
    assert not at.exception
    assert "is tagged PII" not in texts(at)
    assert ZIP in _shown(at)  # the quarantined row, unmasked


def test_drift_page_ranks_drift_by_importance_once_a_shap_report_exists(vigil_env, stored_results):
    """Without a SHAP report the page says what is missing instead of ranking blindly."""
    at = _drift_page(vigil_env, "vera")
    assert "Drift that matters" in texts(at)
    assert "Needs a drift check and a SHAP report of this model." in texts(at)
