"""The drift service on stored logs: runs stored on both backends, re-run replaces, backfill,
concurrency Conflict, permission refusal audited, Evidently report artifact."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from core.errors import Conflict, NotFound, PermissionDenied
from monitoring.drift import service
from monitoring.logs.ingest import ingest_model
from tests.unit.logs.loghelpers import BASE, add_user, day_records, write_jsonl

DAY = timedelta(days=1)


def _prepare(ctx, days: int = 3, shift_from: int = 2):
    """Ingest ``days`` days of diabetes logs (a shift from day ``shift_from``); fit a profile on day 0."""
    op = add_user(ctx, "ops", "operator")
    for d in range(days):
        shift = 1.0 if d >= shift_from else 0.0
        write_jsonl(
            ctx.settings.data_dir / "logs/diabetes" / f"d{d}.jsonl",
            day_records(BASE + d * DAY, 400, start_index=1000 * d, shift=shift, seed=d),
        )
    ingest_model(ctx, op, "diabetes", versions=["1"])
    profile = service.fit_reference_profile(
        ctx, op, "diabetes", "1", source="window", start=BASE, end=BASE + DAY
    )
    return op, profile


def test_runs_stored_replaced_and_read(ctx):
    op, profile = _prepare(ctx)
    assert profile.is_current and profile.rows == 400 and "bmi" in profile.charts
    quiet = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 2 * DAY, report=False)
    drifted = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 3 * DAY, report=False)
    assert quiet.status == "ok" and quiet.rows == 400 and quiet.features_tested == 11
    assert quiet.drifted_features <= 1
    assert drifted.drifted_features >= 8 and drifted.max_severity == "significant"
    assert drifted.features[0].drifted and drifted.features[0].psi is not None
    assert "registry" in drifted.note  # no MLflow here: the version seen in the window was used
    assert drifted.quality["rows"] == 400 and drifted.performance["labelled"] == 400
    assert drifted.features[0].histogram["current"]
    assert drifted.prediction["prediction_drift"]["psi"] > quiet.prediction["prediction_drift"]["psi"]
    assert drifted.prediction["baseline"] == "the profile's window" and drifted.performance["rmse"] > 0

    again = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 3 * DAY, report=False)
    assert again.id != drifted.id
    runs = service.list_runs(ctx, "diabetes")
    assert [r.window_end for r in runs] == [BASE + 2 * DAY, BASE + 3 * DAY]
    assert service.get_run(ctx, drifted.id) is None
    assert len(service.feature_results(ctx, again.id)) == 11
    latest = service.latest_run(ctx, "diabetes")
    assert latest is not None and latest.id == again.id
    history = service.feature_history(ctx, "diabetes", days=30)
    # long form: 2 windows x 11 features x 2 methods (numeric ks + psi, categorical psi + chi2)
    assert len(history) == 44 and set(history["feature"]) >= {"bmi", "site"}
    assert set(history["method"]) == {"ks", "psi", "chi2"}
    stored = {(r.feature, r.method): r for r in latest.results}
    assert len(stored) == 22 and stored[("bmi", "ks")].p_value_adjusted is not None
    assert stored[("bmi", "psi")].statistic == latest.features[[f.feature for f in latest.features].index("bmi")].psi

    second = service.fit_reference_profile(
        ctx, op, "diabetes", "1", source="window", start=BASE, end=BASE + DAY
    )
    assert second.id != profile.id and service.current_profile(ctx, "diabetes", "1").id == second.id
    assert [p.is_current for p in service.list_profiles(ctx, "diabetes")] == [True, False]


def test_backfill_no_data_and_report(sqlite_ctx):
    ctx = sqlite_ctx
    op, _ = _prepare(ctx)
    runs = service.backfill(ctx, op, "diabetes", BASE, BASE + 4 * DAY, window="1d", report="none")
    assert [r.status for r in runs] == ["ok", "ok", "ok", "no_data"]
    assert runs[2].drifted_features > runs[1].drifted_features
    from core.runs import latest_runs

    jobs = [r for r in latest_runs(ctx.engine, model="diabetes") if r.job == "drift"]
    assert len(jobs) == 1 and jobs[0].status == "success" and len(jobs[0].details["drift_run_ids"]) == 4
    view = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + 3 * DAY, report=True)
    html = service.report_html(ctx, view)
    assert html is not None and b"<html" in html[:2000].lower()
    assert view.report_name.endswith(".html")


def test_concurrent_run_conflicts_and_failure_is_audited(sqlite_ctx):
    ctx = sqlite_ctx
    op, _ = _prepare(ctx, days=1)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with service.model_lock(ctx, "diabetes", "other job"):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(10)
        with pytest.raises(Conflict, match="already running by other job"):
            service.run_drift_check(
                ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False, lock_wait=0.3
            )
    finally:
        release.set()
        thread.join()
    assert [e.outcome for e in ctx.audit.query(action="drift.run")][-1] == "failed"
    # the lock is released: the next run goes through
    assert service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False).rows == 400

    # another process holds the drift lock: the Conflict names it; killed, it frees the lock at once
    import signal

    from tests.unit.core.test_locks import hold_in_process

    other = hold_in_process(str(ctx.engine.url), "drift:diabetes", "nightly backfill")
    try:
        with pytest.raises(Conflict, match="already running by nightly backfill since"):
            service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False, lock_wait=0)
        other.send_signal(signal.SIGKILL)
        other.wait(30)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    view = service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False, lock_wait=0)
    assert view.rows == 400


def test_permission_denied_audited_and_missing_profile(ctx):
    viewer = add_user(ctx, "vera", "viewer")
    with pytest.raises(PermissionDenied):
        service.run_drift_check(ctx, viewer, "diabetes", window="1d", at=BASE + DAY)
    assert [e.outcome for e in ctx.audit.query(action="drift.run")] == ["denied"]
    from core.runs import latest_runs

    assert [r for r in latest_runs(ctx.engine, model="diabetes") if r.job == "drift"] == []  # checked first
    op = add_user(ctx, "ops", "operator")
    with pytest.raises(NotFound, match="no stored reference profile"):
        service.run_drift_check(ctx, op, "diabetes", window="1d", at=BASE + DAY, report=False)


def test_reads_refuse_a_viewer_without_a_grant_on_the_model(ctx) -> None:  # type: ignore[no-untyped-def]
    """Deny by default on reads too: the service, not the page, refuses an unauthorised viewer."""
    from monitoring.drift.service import feature_history, latest_run, list_runs

    add_user(ctx, "scoped", "viewer", scope="diabetes")
    add_user(ctx, "stranger", "viewer", scope="diabetes")
    for reader in (latest_run, list_runs, feature_history):
        with pytest.raises(PermissionDenied):
            reader(ctx, "breast-cancer", viewer="scoped")  # granted on another model only
        with pytest.raises(PermissionDenied):
            reader(ctx, "diabetes", viewer="nobody")  # no account, no grant
    assert latest_run(ctx, "diabetes", viewer="scoped") is None  # allowed: nothing stored yet
