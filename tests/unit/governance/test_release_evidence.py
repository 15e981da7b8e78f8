"""The evidence of the non-metric release gates, measured on hand-built logs in the real log store
and a real MLflow registry (SQLite): latency p95 against numpy.percentile, completeness counted by
hand, drift share and PSI against scipy / numpy on a planted shift, "no evidence" for a version
that never served, degraded sources, what request_release stores, and the comparison by window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from core.config import ModelsConfig
from core.context import AppContext
from core.errors import PermissionDenied
from core.settings import Settings
from governance import releases
from governance.release_evidence import collect_evidence, compare_by_window
from tests.unit.governance.evidence_fixtures import (
    NUMERIC,
    feature_frame,
    registry_with_champion,
    requests,
    write_store,
)
from tests.unit.governance.release_fixtures import FakeVersions, facts
from tests.unit.logs.loghelpers import add_user

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL, REGISTERED = "diabetes", "diabetes-gbr"
NOW = datetime(2026, 11, 20, tzinfo=UTC)
DAY0 = datetime(2026, 11, 10, tzinfo=UTC)  # the champion's reference window
LATER = datetime(2026, 11, 18, tzinfo=UTC)  # the candidate's traffic
GATES = {"max_rmse": 65.0, "max_drift_share": 0.1, "max_psi": {"threshold": 0.25, "mode": "advisory"},
         "max_latency_p95_ms": 250, "min_completeness_pct": 99}


def _models(models_config: ModelsConfig) -> ModelsConfig:
    raw = models_config.model_dump()
    for m in raw["models"]:
        if m["name"] == MODEL:
            m["approval"] = {"required_approvals": 1, "four_eyes": True, "gates": GATES}
    return ModelsConfig.model_validate(raw)


def _context(tmp_path: Path, models_config: ModelsConfig, database_url: str | None = None) -> AppContext:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}"}
    if database_url:
        env["DATABASE_URL"] = database_url
    return AppContext.create(Settings.from_env(env), models=_models(models_config))


@pytest.fixture
def ectx(tmp_path, models_config):  # type: ignore[no-untyped-def]
    context = _context(tmp_path, models_config)
    yield context
    context.engine.dispose()


def _champion_with_profile(ctx: AppContext, tmp_path: Path) -> pd.DataFrame:
    """Version 3 is the champion; its reference profile is fitted (by the drift service) on its
    logs of DAY0. Returns those reference rows."""
    from monitoring.drift import service

    reference = requests("3", DAY0, 2000, seed=1, every=timedelta(seconds=30))
    write_store(ctx, MODEL, reference, "v3-reference")
    registry_with_champion(ctx, tmp_path, REGISTERED, "3")
    ops = add_user(ctx, "ops", "operator")
    service.fit_reference_profile(ctx, ops, MODEL, "3", source="window", start=DAY0, end=DAY0 + timedelta(days=1))
    return reference


def _break_log_store(ctx: AppContext) -> None:
    """A part of the model's log store that is not Parquet: every read over it fails."""
    folder = ctx.settings.logstore_dir / f"model={MODEL}" / "date=2026-11-18"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.parquet").write_bytes(b"not parquet at all")


def _psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI as its textbook: reference-decile bins, shares floored at 1e-4 (independent of the engine)."""
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    r = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1) / len(current)
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))


def test_latency_p95_is_the_versions_own_successful_requests_as_numpy_computes_it(ectx) -> None:  # type: ignore[no-untyped-def]
    mine = requests("4", LATER, 1203, seed=7, latency=(80.0, 0.5), error_rate=0.05)
    other = requests("3", LATER, 900, seed=8, latency=(20.0, 0.2))  # the champion's faster traffic
    write_store(ectx, MODEL, mine, "v4")
    write_store(ectx, MODEL, other, "v3")
    found = collect_evidence(ectx, MODEL, "4", now=NOW, keys={"latency_p95_ms"})
    ok = mine.loc[mine["status"] == "ok", "latency_ms"].to_numpy()
    assert found["latency_p95_ms"].value == pytest.approx(float(np.percentile(ok, 95)), rel=1e-9)
    assert found["latency_p95_ms"].source == (f"inference logs, version 4, 1,203 requests 2026-11-18 "
                                              f"(p95 of the {len(ok):,} successful)")


def test_completeness_counts_the_missing_values_of_the_configured_features(ectx) -> None:  # type: ignore[no-untyped-def]
    traffic = requests("4", LATER, 200, seed=3)
    traffic.loc[:9, "bmi"] = np.nan  # 10 missing numbers
    traffic.loc[20:24, "site"] = None  # 5 missing categories
    traffic.loc[30:32, "site"] = ""  # 3 empty categories count as missing (as in the drift engine)
    write_store(ectx, MODEL, traffic, "v4")
    found = collect_evidence(ectx, MODEL, "4", now=NOW, keys={"completeness_pct"})
    assert found["completeness_pct"].value == pytest.approx(100 * (1 - 18 / (200 * 11)))
    assert found["completeness_pct"].source == ("inference logs of version 4 (200 requests 2026-11-18): "
                                                "18 of 2,200 values of the 11 configured features missing")


def test_drift_share_and_psi_of_a_planted_shift_match_scipy_and_numpy(ectx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reference = _champion_with_profile(ectx, tmp_path)
    traffic = requests("4", LATER, 2000, seed=2, every=timedelta(seconds=30), shift={"bmi": 0.5, "bp": 0.5})
    write_store(ectx, MODEL, traffic, "v4")
    found = collect_evidence(ectx, MODEL, "4", now=NOW)

    # independent decision: two-sided KS (numeric) and chi-square (site) p-values, Benjamini-Hochberg
    # over all of them, drifted when adjusted p < 0.05 and the effect reaches the minimum
    ks = [sps.ks_2samp(reference[n], traffic[n]) for n in NUMERIC]
    table = pd.crosstab(pd.concat([reference["site"], traffic["site"]]),
                        np.r_[np.zeros(len(reference)), np.ones(len(traffic))])
    chi = sps.chi2_contingency(table.to_numpy(), correction=False)
    adjusted = sps.false_discovery_control([r.pvalue for r in ks] + [chi.pvalue], method="bh")
    drifted = [n for n, r, p in zip(NUMERIC, ks, adjusted, strict=False) if p < 0.05 and r.statistic >= 0.02]
    assert sorted(drifted) == ["bmi", "bp"]  # the planted shift, nothing else
    assert found["drift_share"].value == pytest.approx(len(drifted) / 11)
    source = found["drift_share"].source
    assert source.startswith("drift of inference logs of version 4 (2,000 requests 2026-11-18) "
                             "vs champion version 3 reference profile #")
    assert source.endswith("(window): 2 of 11 features drifted (BH, alpha 0.05)")

    psis = {n: _psi(reference[n].to_numpy(), traffic[n].to_numpy()) for n in NUMERIC}
    worst = max(psis, key=psis.__getitem__)
    assert worst in ("bmi", "bp")
    assert found["psi"].value == pytest.approx(psis[worst], rel=1e-9)
    assert found["psi"].source.startswith(f"largest PSI ({worst}) of inference logs of version 4")
    assert found["completeness_pct"].value == 100.0


def test_a_version_that_never_served_has_no_latency_and_is_judged_on_its_logged_data(ectx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitoring.drift import service

    logged = feature_frame(requests("4", LATER, 300, seed=5))
    logged.loc[:29, "s1"] = np.nan  # 30 of 3,300 values missing
    registry_with_champion(ectx, tmp_path, REGISTERED, "3", logged={"4": logged})
    write_store(ectx, MODEL, requests("3", DAY0, 500, seed=1), "v3")
    service.fit_reference_profile(ectx, add_user(ectx, "ops", "operator"), MODEL, "3", source="window",
                                  start=DAY0, end=DAY0 + timedelta(days=1))
    found = collect_evidence(ectx, MODEL, "4", now=NOW)
    assert found["latency_p95_ms"].value is None
    assert found["latency_p95_ms"].source == ("no evidence: version 4 served no request in the inference logs "
                                              "2026-10-21..2026-11-20")
    assert found["completeness_pct"].value == pytest.approx(100 * (1 - 30 / 3300))
    assert found["completeness_pct"].source.startswith(
        "data logged with version 4 in MLflow (reference/reference.parquet, 300 rows)")
    assert found["drift_share"].value is not None
    assert "data logged with version 4 in MLflow" in found["drift_share"].source


def test_sources_that_do_not_answer_leave_no_evidence_with_the_reason(ectx) -> None:  # type: ignore[no-untyped-def]
    # no MLflow database at the configured URI, and a log store that cannot be listed
    _break_log_store(ectx)
    found = collect_evidence(ectx, MODEL, "4", now=NOW)
    assert sorted(found) == ["completeness_pct", "drift_share", "latency_p95_ms", "psi"]
    assert all(e.value is None and e.source.startswith("no evidence: ") for e in found.values())
    assert "the inference logs could not be read" in found["latency_p95_ms"].source
    assert "its logged data could not be read" in found["completeness_pct"].source
    assert "does not exist" in found["drift_share"].source  # MLflow's database file


def test_request_release_collects_and_stores_the_gates_values_and_sources(tmp_path, models_config, db_url) -> None:  # type: ignore[no-untyped-def]
    ctx = _context(tmp_path, models_config, db_url)
    try:
        _champion_with_profile(ctx, tmp_path)
        write_store(ctx, MODEL, requests("4", LATER, 600, seed=2, latency=(30.0, 0.3)), "v4")
        opal = add_user(ctx, "opal", "operator", MODEL)
        view = releases.request_release(ctx, opal, MODEL, "4", versions=FakeVersions(facts("4", rmse=50.0)),
                                        now=NOW)
        stored = releases.show_request(ctx, None, view.id)
        gates = {g.name: (g.status, g.mode) for g in stored.gates}
        assert gates == {"max_rmse": ("pass", "blocking"), "max_drift_share": ("pass", "blocking"),
                         "max_psi": ("pass", "advisory"), "max_latency_p95_ms": ("pass", "blocking"),
                         "min_completeness_pct": ("pass", "blocking")}
        by_name = {g.name: g for g in stored.gates}
        assert by_name["max_latency_p95_ms"].source.startswith("inference logs, version 4, 600 requests 2026-11-18")
        assert by_name["max_drift_share"].value == 0.0
        assert "vs champion version 3 reference profile" in by_name["max_drift_share"].source
        assert by_name["min_completeness_pct"].value == 100.0
        assert stored.blocking_gates == []
        entry = ctx.audit.query(action="release.request", actor="opal")[-1]
        assert entry.details["gates"]["max_latency_p95_ms"] == "pass"
    finally:
        ctx.engine.dispose()


def test_a_request_whose_sources_are_down_opens_with_its_gates_at_no_evidence(ectx) -> None:  # type: ignore[no-untyped-def]
    opal = add_user(ectx, "opal", "operator", MODEL)
    _break_log_store(ectx)  # and no MLflow database: nothing answers
    view = releases.request_release(ectx, opal, MODEL, "4",
                                    versions=FakeVersions(facts("4", rmse=50.0)), now=NOW)
    status = {g.name: g.status for g in view.gates}
    assert status == {"max_rmse": "pass", "max_drift_share": "no evidence", "max_psi": "no evidence",
                      "max_latency_p95_ms": "no evidence", "min_completeness_pct": "no evidence"}
    assert {g.name for g in view.blocking_gates} == {"max_drift_share", "max_latency_p95_ms",
                                                     "min_completeness_pct"}
    assert all(g.source.startswith("no evidence: ") for g in view.gates if g.status == "no evidence")


def test_champion_and_challenger_by_window_where_both_served(ectx) -> None:  # type: ignore[no-untyped-def]
    champion = requests("3", LATER, 240, seed=11, every=timedelta(minutes=1), latency=(20.0, 0.2),
                        error_rate=0.02)
    challenger = requests("4", LATER + timedelta(hours=1), 120, seed=12, latency=(35.0, 0.3), error_rate=0.1)
    write_store(ectx, MODEL, champion, "v3")
    write_store(ectx, MODEL, challenger, "v4")
    add_user(ectx, "vera", "viewer", MODEL)
    add_user(ectx, "nobody", "viewer", "breast-cancer")
    with pytest.raises(PermissionDenied):
        compare_by_window(ectx, MODEL, "4", viewer="nobody", champion="3", now=NOW)

    got = compare_by_window(ectx, MODEL, "4", viewer="vera", champion="3", now=NOW)
    assert (got.window, got.metric, got.note) == ("1h", "rmse", "")
    hours = [LATER + timedelta(hours=h) for h in (1, 2)]  # the champion served hours 0-3, the challenger 1-2
    assert got.windows == hours
    assert [(p.window_start, p.version, p.role) for p in got.points] == [
        (hours[0], "3", "champion"), (hours[0], "4", "challenger"),
        (hours[1], "3", "champion"), (hours[1], "4", "challenger")]
    for p in got.points:
        frame = champion if p.version == "3" else challenger
        rows = frame[(frame["timestamp"] >= p.window_start) & (frame["timestamp"] < p.window_start + timedelta(hours=1))]
        ok = rows[rows["status"] == "ok"]
        assert p.requests == len(rows)
        assert p.error_ratio == pytest.approx((rows["status"] == "error").mean())
        assert p.p95_ms == pytest.approx(float(np.percentile(ok["latency_ms"], 95)), rel=1e-9)
        y, yhat = ok["label"].astype(float).to_numpy(), ok["prediction"].astype(float).to_numpy()
        assert p.labelled == len(ok)
        assert p.performance == pytest.approx(float(np.sqrt(np.mean((y - yhat) ** 2))), rel=1e-9)

    never = compare_by_window(ectx, MODEL, "5", viewer="vera", champion="3", now=NOW)
    assert never.points == () and never.note.startswith("Versions 3 and 5 have not served traffic in the same window")


def test_a_request_on_the_first_second_of_a_window_counts_in_it(ectx) -> None:  # type: ignore[no-untyped-def]
    # both versions start serving at midnight, the first instant of a daily and an hourly window:
    # (seen in CI, run at 23:59) the first request of each was dropped and the page showed 59 of 60
    write_store(ectx, MODEL, requests("3", LATER, 90, seed=21), "v3")
    write_store(ectx, MODEL, requests("4", LATER, 60, seed=22), "v4")
    add_user(ectx, "vera", "viewer", MODEL)
    got = compare_by_window(ectx, MODEL, "4", viewer="vera", champion="3", now=NOW)
    assert got.windows == [LATER]
    assert [(p.version, p.requests) for p in got.points] == [("3", 60), ("4", 60)]
