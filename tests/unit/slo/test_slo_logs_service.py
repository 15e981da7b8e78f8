"""SLIs from the log store, the SLO and health services (permissions, audit, snapshots), jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from monitoring.slo import logs_source
from tests.conftest import metric
from tests.unit.health.logstore_helper import write_logs

START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=4)
INCIDENT = (START + timedelta(days=2, hours=9), START + timedelta(days=2, hours=12))


def _slo(name: str = "availability", sli: str = "availability", threshold: float | None = None):  # type: ignore[no-untyped-def]
    from monitoring.slo.spec import SLODefinition

    return SLODefinition("breast-cancer", name, 0.999, 0.999, "30d", None, None, sli=sli, threshold_ms=threshold)


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "logstore"
    write_logs(path, "breast-cancer", START, END, incident=INCIDENT)
    return path


def test_window_counts_and_no_data(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    at = INCIDENT[0] + timedelta(hours=1)
    counts = logs_source.window_counts(store, "breast-cancer", at, ["1h", "1d"])
    assert 100 <= counts["1h"][1] <= 140 and counts["1h"][0] >= 5
    assert logs_source.window_counts(tmp_path / "none", "breast-cancer", at, ["1h"]) == {}
    res = logs_source.evaluate(tmp_path / "none", "breast-cancer", _slo(), at)
    assert res.error_budget_remaining is None and res.alerts.as_dict() == {"page": False, "ticket": False}


def test_incident_pages_at_the_right_hours(store) -> None:  # type: ignore[no-untyped-def]
    frame = logs_source.burn_series(store, "breast-cancer", _slo(), START + timedelta(days=2),
                                    START + timedelta(days=3), min_requests=100)
    paging = [t.hour for t, p in zip(frame["at"], frame["page"]) if p]
    assert paging == [10, 11, 12]
    latency = logs_source.burn_series(store, "breast-cancer", _slo("latency-250ms", "latency", 250),
                                      START + timedelta(days=2), START + timedelta(days=3), min_requests=100)
    assert [t.hour for t, p in zip(latency["at"], latency["page"]) if p] == [10, 11, 12]
    # the budget drops during the incident and not before
    before = frame[frame["at"] == INCIDENT[0]]["budget_remaining"].iloc[0]
    after = frame[frame["at"] == INCIDENT[1]]["budget_remaining"].iloc[0]
    assert after < before


def test_metrics_series(store) -> None:  # type: ignore[no-untyped-def]
    frame = logs_source.metrics_series(store, "breast-cancer", INCIDENT[0] - timedelta(hours=2), INCIDENT[1])
    assert {"p95_ms", "error_rate", "gpu_utilization"} <= set(frame.columns)
    assert frame["p95_ms"].max() > 250 and frame["p95_ms"].min() < 100


def _grant_job_user(ctx) -> Actor:  # type: ignore[no-untyped-def]
    from governance.access import ensure_demo_accounts

    ensure_demo_accounts(ctx)
    return Actor(ctx.settings.job_user, "job")


def test_slo_and_health_services(ctx, monkeypatch) -> None:  # both database backends  # type: ignore[no-untyped-def]
    from core.errors import PermissionDenied
    from monitoring.health.service import latest_health, run_health_check
    from monitoring.slo.service import get_series, latest_snapshots, run_slo_check

    write_logs(ctx.settings.logstore_dir, "breast-cancer", START, END, incident=INCIDENT)
    actor = _grant_job_user(ctx)
    with pytest.raises(PermissionDenied):
        run_slo_check(ctx, Actor("nobody", "cli"), "breast-cancer", at=INCIDENT[0])
    at = INCIDENT[0] + timedelta(hours=2)
    views = run_slo_check(ctx, actor, "breast-cancer", at=at)
    assert {v.slo for v in views} == {"availability", "latency-250ms"}
    assert all(v.page for v in views) and all(v.source == "logs" for v in views)
    assert latest_snapshots(ctx, "breast-cancer")[0].at == at
    series = get_series(ctx, "breast-cancer", "burn:availability")
    assert series is not None and any(p["page"] for p in series.points)
    assert get_series(ctx, "breast-cancer", "metrics").points
    view, _ = run_health_check(ctx, actor, "breast-cancer", at=at, notify=False)
    assert view.level == "critical" and view.score is not None and view.score < 50
    assert any(r.startswith(("error_rate", "slo_budget", "latency")) for r in view.reasons())
    calm, _ = run_health_check(ctx, actor, "breast-cancer", at=START + timedelta(days=1, hours=12),
                               notify=False)
    assert calm.score is not None and calm.score > view.score
    latest = latest_health(ctx, "breast-cancer")
    assert latest is not None and latest.id == view.id  # newest evaluation time wins
    actions = [e.action for e in ctx.audit.query()] if hasattr(ctx.audit, "query") else []
    assert "slo.run" in actions and "health.run" in actions


def test_jobs_cli_configured_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from core.context import AppContext
    from core.settings import Settings

    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "VIGIL_CONFIG": str(repo / "config" / "models.yaml")}
    env.pop("PROMETHEUS_URL", None)
    env.pop("VIGIL_WEBHOOK_URL", None)
    ctx = AppContext.create(Settings.from_env(env))
    _grant_job_user(ctx)
    write_logs(ctx.settings.logstore_dir, "breast-cancer", START, END, incident=INCIDENT)
    ctx.engine.dispose()
    at = (INCIDENT[0] + timedelta(hours=2)).isoformat()
    done = subprocess.run([sys.executable, "-m", "jobs.slo", "--model", "breast-cancer", "--at", at, "--format",
                           "json"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    item = json.loads(done.stdout)["slos"][0]
    assert item["alerts"]["page"] is True and item["period"] == "30d"
    textfile = tmp_path / "out" / "vigil.prom"
    done = subprocess.run([sys.executable, "-m", "jobs.health", "--at", at, "--textfile", str(textfile)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "breast-cancer: score" in done.stdout and "(critical)" in done.stdout
    assert "diabetes: score no data (no_data)" in done.stdout
    metrics = textfile.read_text()
    assert metric(metrics, "vigil_health_level", model="breast-cancer", level="critical") == 1.0
    assert metric(metrics, "vigil_slo_alert", model="breast-cancer", slo="availability", severity="page") == 1.0
    # an unknown model is a usage error, not a traceback
    done = subprocess.run([sys.executable, "-m", "jobs.health", "--model", "nope"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nope" in done.stderr


def test_prometheus_down_fails_the_run_and_keeps_the_last_snapshot(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from core.errors import ServiceUnavailable
    from core.runs import latest_runs
    from monitoring.slo.service import latest_snapshots, run_slo_check

    write_logs(sqlite_ctx.settings.logstore_dir, "breast-cancer", START, END, incident=INCIDENT)
    actor = _grant_job_user(sqlite_ctx)
    good = run_slo_check(sqlite_ctx, actor, "breast-cancer", at=END, with_series=False)
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        run_slo_check(sqlite_ctx, actor, "breast-cancer", at=END, prometheus_url="http://127.0.0.1:9")
    run = latest_runs(sqlite_ctx.engine, model="breast-cancer", limit=1)[0]
    assert run.job == "slo" and run.status == "failed" and "does not answer" in run.message
    assert [s.id for s in latest_snapshots(sqlite_ctx, "breast-cancer")] == [v.id for v in good]
    failed = sqlite_ctx.audit.query(action="slo.run", outcome="failed")
    assert failed and "ServiceUnavailable" in failed[-1].reason
