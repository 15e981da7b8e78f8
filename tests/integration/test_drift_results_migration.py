"""Migration 0010 moves the stored KS, chi-square and PSI columns into long-form rows, one per
(run, feature, method), on SQLite and the real PostgreSQL; nothing is lost, and the downgrade
puts the columns back with the same values."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from core.db import MIGRATIONS_DIR, make_engine

pytestmark = pytest.mark.integration

RUN = ("INSERT INTO drift_runs (id, model, version, \"window\", window_start, window_end, at, status, rows, "
       "rows_reference, features_tested, drifted_features, share_drifted, max_severity, dataset_drift, note, "
       "created_by, prediction, performance, quality) VALUES (7, 'm', '1', '1d', '2026-11-01 00:00:00+00:00', "
       "'2026-11-02 00:00:00+00:00', '2026-11-02 00:00:00+00:00', 'ok', 10, 10, 3, 1, 0.33, 'significant', "
       ":t, '', 'op', '{}', '{}', '{}')")
FEATURE = ("INSERT INTO drift_feature_results (run_id, feature, kind, ks_statistic, ks_pvalue, ks_error_bound, "
           "chi2_statistic, chi2_pvalue, psi, p_value_adjusted, drifted, severity, missing_share_reference, "
           "missing_share_current, histogram) VALUES (7, :feature, :kind, :ks, :ksp, :kse, :chi, :chip, :psi, "
           ":adj, :drifted, :severity, 0.0, 0.1, '{}')")
OLD = [
    {"feature": "x", "kind": "numeric", "ks": 0.4, "ksp": 1e-9, "kse": 0.0, "chi": None, "chip": None, "psi": 0.31,
     "adj": 3e-9, "drifted": True, "severity": "significant"},
    {"feature": "site", "kind": "categorical", "ks": None, "ksp": None, "kse": None, "chi": 2.5, "chip": 0.28,
     "psi": 0.02, "adj": 0.42, "drifted": False, "severity": "none"},
    {"feature": "empty", "kind": "numeric", "ks": None, "ksp": None, "kse": None, "chi": None, "chip": None,
     "psi": None, "adj": None, "drifted": False, "severity": "none"},
]


def _cfg(eng):  # type: ignore[no-untyped-def]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection_engine"] = eng
    return cfg


def test_old_feature_results_become_long_form_rows_and_come_back(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        cfg = _cfg(eng)
        command.upgrade(cfg, "0009_audit_anchor")
        with eng.begin() as conn:
            conn.execute(text(RUN), {"t": True})
            for row in OLD:
                conn.execute(text(FEATURE), row)
        command.upgrade(cfg, "0010_drift_results")
        columns = {c["name"] for c in inspect(eng).get_columns("drift_feature_results")}
        assert "ks_statistic" not in columns and "psi" not in columns and "histogram" in columns
        with eng.connect() as conn:
            rows = conn.execute(text("SELECT feature, method, statistic, p_value, p_value_adjusted, threshold, "
                                     "threshold_on, drifted, severity, error_bound FROM drift_method_results "
                                     "WHERE run_id = 7 ORDER BY feature, method")).all()
        got = {(r[0], r[1]): r[2:] for r in rows}
        assert set(got) == {("site", "chi2"), ("site", "psi"), ("x", "ks"), ("x", "psi")}  # nothing for "empty"
        assert got[("x", "ks")][:5] == (0.4, 1e-9, 3e-9, 0.05, "p_value") and bool(got[("x", "ks")][5])
        assert got[("x", "ks")][6:] == ("significant", 0.0)
        assert got[("x", "psi")][0] == 0.31 and got[("x", "psi")][4] == "distance"
        assert got[("site", "chi2")][:3] == (2.5, 0.28, 0.42) and not got[("site", "chi2")][5]
        assert got[("site", "psi")][0] == 0.02
        command.downgrade(cfg, "0009_audit_anchor")
        assert "drift_method_results" not in inspect(eng).get_table_names()
        with eng.connect() as conn:
            back = conn.execute(text("SELECT feature, ks_statistic, ks_pvalue, ks_error_bound, chi2_statistic, "
                                     "chi2_pvalue, psi, p_value_adjusted FROM drift_feature_results "
                                     "ORDER BY feature")).all()
        assert [tuple(r) for r in back] == sorted(
            (o["feature"], o["ks"], o["ksp"], o["kse"], o["chi"], o["chip"], o["psi"], o["adj"]) for o in OLD)
    finally:
        eng.dispose()
