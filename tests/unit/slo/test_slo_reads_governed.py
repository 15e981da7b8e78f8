"""Reads of the SLO, health, job-run and quarantine domains check the viewer themselves; the slo,
health and ingest jobs run through governed_run (permission before any record, the failed run's
id in the audit entry); every alert rule's decision is stored with the snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from core.errors import PermissionDenied
from tests.unit.health.logstore_helper import write_logs
from tests.unit.logs.loghelpers import add_user, write_jsonl

START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=4)
INCIDENT = (START + timedelta(days=2, hours=9), START + timedelta(days=2, hours=12))
AT = INCIDENT[0] + timedelta(hours=2)


def _user_without_grant(ctx, username: str) -> None:  # type: ignore[no-untyped-def]
    from core.db import session_scope
    from governance.tables import User

    with session_scope(ctx.engine) as session:
        session.add(User(username=username, display_name=username, created_at=datetime.now(UTC)))


@pytest.fixture
def evaluated(ctx):  # type: ignore[no-untyped-def]
    """breast-cancer's SLOs and health evaluated by an operator; vera may view every model,
    dora only diabetes, nick nothing."""
    from monitoring.health.service import run_health_check
    from monitoring.slo.service import run_slo_check

    write_logs(ctx.settings.logstore_dir, "breast-cancer", START, END, incident=INCIDENT)
    ops = add_user(ctx, "olga", "operator")
    add_user(ctx, "vera", "viewer")
    add_user(ctx, "dora", "viewer", "diabetes")
    _user_without_grant(ctx, "nick")
    views = run_slo_check(ctx, ops, "breast-cancer", at=AT)
    health, _ = run_health_check(ctx, ops, "breast-cancer", at=AT, notify=False)
    return ctx, views, health


def test_slo_and_health_reads_refuse_a_viewer_without_model_view(evaluated) -> None:  # type: ignore[no-untyped-def]
    from monitoring.health import service as health
    from monitoring.slo import service as slo

    ctx, views, stored = evaluated
    reads = [
        lambda viewer: slo.latest_snapshots(ctx, "breast-cancer", viewer=viewer),
        lambda viewer: slo.snapshot_history(ctx, "breast-cancer", "availability", viewer=viewer),
        lambda viewer: slo.get_series(ctx, "breast-cancer", "metrics", viewer=viewer),
        lambda viewer: health.latest_health(ctx, "breast-cancer", viewer=viewer),
        lambda viewer: health.health_history(ctx, "breast-cancer", viewer=viewer),
        lambda viewer: health.recent_health(ctx, "breast-cancer", viewer=viewer),
    ]
    for read in reads:
        for outsider in ("dora", "nick", "ghost"):
            with pytest.raises(PermissionDenied, match="may not view model 'breast-cancer'"):
                read(outsider)
        assert read("vera")  # a viewer of the model reads what the job stored
    assert [s.id for s in slo.latest_snapshots(ctx, "breast-cancer", viewer="vera")] == [v.id for v in views]
    assert health.latest_health(ctx, "breast-cancer", viewer="vera").id == stored.id
    assert [h.id for h in health.recent_health(ctx, "breast-cancer", viewer="vera")] == [stored.id]


def test_job_run_reads_show_only_the_models_a_viewer_may_view(evaluated) -> None:  # type: ignore[no-untyped-def]
    from core.runs import record_run
    from governance import job_runs

    ctx, _, _ = evaluated
    with record_run(ctx.engine, "drift", model="diabetes", actor="olga"):
        pass
    with record_run(ctx.engine, "audit", actor="olga"):  # a model-less job
        pass
    seen = {(r.job, r.model) for r in job_runs.latest_run_per_job(ctx, viewer="vera")}
    assert seen == {("slo", "breast-cancer"), ("health", "breast-cancer"), ("drift", "diabetes"), ("audit", None)}
    dora = {(r.job, r.model) for r in job_runs.latest_run_per_job(ctx, viewer="dora")}
    assert dora == {("drift", "diabetes"), ("audit", None)}
    assert job_runs.latest_run_per_job(ctx, viewer="nick") == []  # no grant: nothing, not even model-less runs
    assert {r.model for r in job_runs.latest_runs(ctx, viewer="dora", limit=50)} == {"diabetes", None}
    assert job_runs.last_run(ctx, "slo", "breast-cancer", viewer="vera").status == "success"
    with pytest.raises(PermissionDenied):
        job_runs.last_run(ctx, "slo", "breast-cancer", viewer="dora")
    with pytest.raises(PermissionDenied):
        job_runs.latest_run_per_job(ctx, viewer="dora", model="breast-cancer")


def test_every_alert_rule_decision_is_stored_with_the_snapshot(evaluated) -> None:  # type: ignore[no-untyped-def]
    from monitoring.slo.burn import ALERT_RULES, evaluate_alerts

    ctx, views, _ = evaluated
    min_requests = ctx.models.get("breast-cancer").thresholds.min_requests_for_alert
    for view in views:
        rules = view.alert_rules
        assert [(r.severity, r.long_window, r.short_window) for r in rules] == [
            (r.severity, r.long_window, r.short_window) for r in ALERT_RULES]
        again = evaluate_alerts(view.burn_rate, view.period, requests=view.requests, min_requests=min_requests)
        assert rules == list(again.rules)  # read back unchanged from the database
        assert view.page is True  # the incident pages...
        assert view.page == any(r.firing for r in rules if r.severity == "page")  # ...by a stored rule
        assert view.ticket == any(r.firing for r in rules if r.severity == "ticket")
        assert all(not (r.firing and r.held) for r in rules)


def test_slo_run_is_governed_refusal_first_failure_audited_with_its_run(evaluated) -> None:  # type: ignore[no-untyped-def]
    from core.errors import ServiceUnavailable
    from core.runs import latest_runs
    from monitoring.health.service import run_health_check
    from monitoring.slo.service import run_slo_check

    ctx, _, _ = evaluated
    before = len(latest_runs(ctx.engine, limit=100))
    for run in (lambda a: run_slo_check(ctx, a, "breast-cancer", at=AT),
                lambda a: run_health_check(ctx, a, "breast-cancer", at=AT, notify=False)):
        with pytest.raises(PermissionDenied):
            run(Actor("vera", "cli"))
    assert len(latest_runs(ctx.engine, limit=100)) == before  # refused before anything was recorded
    denied = ctx.audit.query(actor="vera", outcome="denied")
    assert [e.action for e in denied] == ["slo.run", "health.run"]

    with pytest.raises(ServiceUnavailable):
        run_slo_check(ctx, Actor("olga", "cli"), "breast-cancer", at=AT, prometheus_url="http://127.0.0.1:9")
    failed_run = latest_runs(ctx.engine, model="breast-cancer", job="slo", limit=1)[0]
    assert failed_run.status == "failed"
    [entry] = ctx.audit.query(action="slo.run", outcome="failed")
    assert entry.details["job_run_id"] == failed_run.id and entry.details["at"] == AT.isoformat()
    assert entry.reason.startswith("ServiceUnavailable")
    ok = ctx.audit.query(action="health.run", outcome="success")[-1]
    assert ok.details["level"] == "critical" and ok.details["seconds"] >= 0 and ok.details["job_run_id"]


def _bc_record(i: int, ts: datetime, **extra: object) -> dict:
    return {"timestamp": ts.isoformat(), "model": "breast-cancer", "version": "1", "request_id": f"q{i}",
            "features": {"patient_zip": "90210", "site": "north"}, "prediction": 1, "status": "ok", **extra}


def test_quarantine_reads_check_view_and_pii(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from monitoring.logs.ingest import ingest_model
    from monitoring.logs.service import quarantine

    ctx = sqlite_ctx
    ops = add_user(ctx, "olga", "operator")
    add_user(ctx, "vera", "viewer")
    add_user(ctx, "dora", "viewer", "diabetes")
    add_user(ctx, "ada", "admin")
    now = datetime.now(UTC) - timedelta(hours=1)
    write_jsonl(ctx.settings.data_dir / "logs" / "breast-cancer" / "a.jsonl", [_bc_record(1, now)])
    result = ingest_model(ctx, ops, "breast-cancer", versions=["1"])
    assert (result.rows_read, result.rows_quarantined) == (1, 1)

    with pytest.raises(PermissionDenied):
        quarantine(ctx, "breast-cancer", viewer="dora")
    masked = quarantine(ctx, "breast-cancer", viewer="vera")
    assert masked.summary.rows_quarantined == 1 and masked.pii_masked
    assert "90210" not in masked.rows["raw"].iloc[0] and "north" in masked.rows["raw"].iloc[0]
    with pytest.raises(PermissionDenied, match="PII"):
        quarantine(ctx, "breast-cancer", viewer="vera", reveal_pii=True)
    shown = quarantine(ctx, "breast-cancer", viewer="ada", reveal_pii=True)
    assert json.loads(shown.rows["raw"].iloc[0])["features"]["patient_zip"] == "90210" and not shown.pii_masked


def test_ingest_is_governed(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from core.runs import latest_runs
    from monitoring.logs.ingest import ingest_model

    ctx = sqlite_ctx
    ops = add_user(ctx, "olga", "operator")
    add_user(ctx, "vera", "viewer")
    with pytest.raises(PermissionDenied):
        ingest_model(ctx, Actor("vera", "cli"), "breast-cancer", versions=["1"])
    assert latest_runs(ctx.engine) == []
    assert [e.outcome for e in ctx.audit.query(action="ingest.run")] == ["denied"]
    write_jsonl(ctx.settings.data_dir / "logs" / "breast-cancer" / "a.jsonl",
                [_bc_record(1, datetime.now(UTC) - timedelta(hours=1))])
    result = ingest_model(ctx, ops, "breast-cancer", versions=["1"])
    [run] = latest_runs(ctx.engine)
    assert (run.job, run.model, run.status, run.message) == ("ingest", "breast-cancer", "success", result.line())
    entry = ctx.audit.query(action="ingest.run", outcome="success")[-1]
    assert entry.details["job_run_id"] == run.id and entry.details["rows_quarantined"] == 1
