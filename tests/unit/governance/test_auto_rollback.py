"""Auto-rollback (governance.auto_rollback): the verdict of one check, the run of consecutive
breaches, the probation window, the rollback made as ``system`` on the watcher account's grant,
and the page's reads; state-writing tests run on SQLite and PostgreSQL against a real MLflow
registry (SQLite-backed).

The decision tests feed scripted evidence to the check (the data source is not what they are
about); :func:`test_logs_evidence_is_the_versions_own_window` reads real ingested logs and checks
the figures against numpy. tests/integration/test_auto_rollback_prometheus.py runs the whole loop
against a real Prometheus and MLflow server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.actor import Actor
from core.config import AutoRollbackPolicy, ModelsConfig, load_models_config
from core.context import AppContext
from core.errors import ConfigError, PermissionDenied
from governance import auto_rollback, identity, promotion
from governance.auto_rollback import Evidence, judge, next_streak
from governance.auto_rollback_watcher import Watcher
from governance.rbac import grant
from tests.unit.governance.release_fixtures import ADMIN, BC, DIA, create_accounts, two_stage_models
from tests.unit.governance.test_promotion import RM, T0, aliases, approve_all, make_versions

POLICY = AutoRollbackPolicy(enabled=True, max_error_ratio=0.05, max_p99_ms=400, min_requests=20)
WATCHER = Actor("scheduler", "job", "os:vigil@host")
PROMOTED = T0  # approve_all promotes at T0


# -- the verdict (pure) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("evidence", "outcome", "says"), [
    (Evidence("prometheus", error="prometheus unavailable: does not answer"), "degraded", "does not answer"),
    (Evidence("logs", 5, 0.0, 900.0), "no_evidence", "5 requests in the last 60 s (needs 20)"),
    (Evidence("logs", 0, None, None), "no_evidence", "no requests"),
    (Evidence("logs", 500, 0.01, 950.0), "breach", "p99 950 ms > 400 ms"),
    (Evidence("logs", 500, 0.20, 120.0), "breach", "error ratio 20.00 % > 5.00 %"),
    (Evidence("logs", 500, 0.01, 120.0), "pass", "p99 120 ms <= 400 ms"),
    (Evidence("logs", 500, 0.01, None), "no_evidence", "no p99 latency value"),  # never a pass
])
def test_one_check_is_a_breach_a_pass_or_no_evidence(evidence: Evidence, outcome: str, says: str) -> None:
    got, detail = judge(POLICY, evidence)
    assert got == outcome and says in detail


def test_only_breaches_and_passes_move_the_streak() -> None:
    streak, seen = 0, []
    for outcome in ("breach", "no_evidence", "degraded", "breach", "pass", "breach"):
        streak = next_streak(streak, outcome)
        seen.append(streak)
    assert seen == [1, 1, 1, 2, 0, 1]
    assert auto_rollback.interval_after(POLICY, "breach") == 3 and auto_rollback.interval_after(POLICY, "pass") == 15


def _models_file(tmp_path: Path, block: str) -> Path:
    shipped = (Path(__file__).resolve().parents[3] / "config" / "models.yaml").read_text()
    start = shipped.index("    auto_rollback:")
    end = shipped.index("\n\n", start)
    path = tmp_path / "models.yaml"
    path.write_text(shipped[:start] + block + shipped[end:])
    return path


@pytest.mark.parametrize(("block", "message"), [
    ("    auto_rollback: {enabled: true}", "models[0].auto_rollback: Value error, an enabled auto_rollback needs "
                                         "max_error_ratio or max_p99_ms"),
    ("    auto_rollback: {enabled: true, max_p99_ms: 400, check_seconds: 5, confirm_seconds: 10}",
     "confirm_seconds must not exceed check_seconds"),
    ("    auto_rollback: {enabled: true, max_p99_ms: 400, consecutive: 0}",
     "models[0].auto_rollback.consecutive: Input should be greater than or equal to 1"),
    ("    auto_rollback: {enabled: true, max_p99: 400}", "models[0].auto_rollback.max_p99: Extra inputs"),
])
def test_a_bad_policy_is_one_clear_line(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_models_config(_models_file(tmp_path, block))


def test_the_policy_is_off_by_default_and_on_for_the_demo_model(models_config: ModelsConfig) -> None:
    assert AutoRollbackPolicy().enabled is False
    shipped = models_config.get(BC).auto_rollback
    assert (shipped.enabled, shipped.probation_hours, shipped.check_seconds, shipped.consecutive) == (True, 2, 15, 3)
    assert models_config.get(DIA).auto_rollback.enabled is False


# -- against a database and a real registry -------------------------------------------------------
@pytest.fixture
def actx(settings, models_config, tmp_path) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    """breast-cancer v2 promoted over v1 at T0 (v1 kept as previous champion); a ``scheduler``
    job account with operator on breast-cancer runs the watcher."""
    context = AppContext.create(settings, models=two_stage_models(models_config))
    create_accounts(context)
    identity.create_user(context, ADMIN, "scheduler", is_service=True)
    grant(context, ADMIN, "scheduler", "operator", BC, reason="runs the jobs")
    make_versions(settings.mlflow_tracking_uri, tmp_path, 3)
    assert approve_all(context, "2").state == "promoted"
    yield context
    context.engine.dispose()


def script(monkeypatch: pytest.MonkeyPatch, *evidence: Evidence) -> list[str]:
    """Feed ``evidence`` to the checks in order; returns the versions the checks asked about."""
    queue, asked = list(evidence), []

    def fake(ctx, spec, version, at):  # type: ignore[no-untyped-def]
        asked.append(version)
        return queue.pop(0)

    monkeypatch.setattr(auto_rollback, "gather_evidence", fake)
    return asked


SLOW, FAST = Evidence("logs", 400, 0.01, 1500.0), Evidence("logs", 400, 0.0, 80.0)


def at(seconds: float) -> datetime:
    return PROMOTED + timedelta(seconds=seconds)


def test_three_consecutive_breaches_roll_back_as_system_audited(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked = script(monkeypatch, SLOW, SLOW, SLOW)
    first = auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    second = auto_rollback.check_model(actx, WATCHER, BC, now=at(65))
    assert not first.rolled_back and not second.rolled_back and aliases(actx)["champion"] == "2"
    third = auto_rollback.check_model(actx, WATCHER, BC, now=at(70))
    assert third.rolled_back and "champion 2 -> 1" in third.why
    assert asked == ["2", "2", "2"]
    assert aliases(actx) == {"champion": "1", "previous-champion": "2"}
    [move, *_] = [m for m in promotion.alias_history(actx, "vic", BC) if m.alias == "champion"]
    assert (move.kind, move.actor, move.from_version, move.to_version) == ("rollback", "system", "2", "1")
    assert "3 consecutive checks" in move.reason and "p99 1500 ms > 400 ms" in move.reason
    [entry] = [e for e in actx.audit.query(action="model.rollback")]
    assert (entry.actor, entry.outcome, entry.source) == ("system", "success", "job")
    assert entry.details["trigger"] == "auto_rollback" and entry.details["on_grant_of"] == "scheduler"
    assert (entry.details["old_version"], entry.details["new_version"]) == ("2", "1")
    checks = auto_rollback.recent_checks(actx, "vic", BC)
    assert [(c.outcome, c.streak, c.action) for c in checks] == [
        ("breach", 3, "rolled_back"), ("breach", 2, None), ("breach", 1, None)]
    status = auto_rollback.probation_status(actx, "vic", BC, now=at(71))
    assert status.state == "rolled back" and status.version == "2" and "champion 2 -> 1" in status.summary
    # the champion's last move is a rollback: nothing is on probation any more
    assert auto_rollback.check_model(actx, WATCHER, BC, now=at(90)).why == "not on probation"
    assert actx.audit.verify().ok


def test_a_pass_resets_the_run_and_no_evidence_or_an_outage_neither_counts(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    down = Evidence("prometheus", error="prometheus unavailable: connection refused")
    script(monkeypatch, SLOW, SLOW, FAST, SLOW, Evidence("logs", 3, 0.0, 2000.0), down, SLOW, SLOW)
    outcomes = []
    for i in range(8):
        result = auto_rollback.check_model(actx, WATCHER, BC, now=at(60 + 15 * i))
        outcomes.append((result.checked.outcome, result.checked.streak, result.rolled_back))
    assert outcomes == [("breach", 1, False), ("breach", 2, False), ("pass", 0, False), ("breach", 1, False),
                        ("no_evidence", 1, False), ("degraded", 1, False), ("breach", 2, False),
                        ("breach", 3, True)]
    degraded = auto_rollback.recent_checks(actx, None, BC)[2]
    assert degraded.outcome == "degraded" and "connection refused" in degraded.detail


def test_the_run_of_breaches_survives_a_restart_of_the_watcher(actx, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, SLOW, SLOW, SLOW)
    auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    auto_rollback.check_model(actx, WATCHER, BC, now=at(65))
    other = AppContext.create(settings, models=actx.models)  # another process: a failover
    try:
        assert auto_rollback.check_model(other, WATCHER, BC, now=at(70)).rolled_back
    finally:
        other.engine.dispose()


def test_checks_fall_due_every_check_seconds_and_sooner_after_a_breach(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, FAST, SLOW)
    assert auto_rollback.due_in(actx, BC, now=at(60)) == 0
    auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    assert auto_rollback.due_in(actx, BC, now=at(61)) == pytest.approx(14)
    assert auto_rollback.check_model(actx, WATCHER, BC, now=at(70)).why == "not due"
    auto_rollback.check_model(actx, WATCHER, BC, now=at(75))
    assert auto_rollback.due_in(actx, BC, now=at(76)) == pytest.approx(2)  # confirm a breach in 3 s


def test_after_the_probation_window_nothing_is_checked(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, SLOW)
    auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    late = PROMOTED + timedelta(hours=2, seconds=1)
    assert auto_rollback.check_model(actx, WATCHER, BC, now=late).why == "not on probation"
    assert auto_rollback.due_in(actx, BC, now=late) is None
    assert len(auto_rollback.recent_checks(actx, None, BC)) == 1
    status = auto_rollback.probation_status(actx, "vic", BC, now=late)
    assert status.state == "ended" and "probation is over" in status.summary
    assert aliases(actx)["champion"] == "2"


def test_a_disabled_policy_does_nothing(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked = script(monkeypatch, SLOW)
    raw = actx.models.model_dump()
    for m in raw["models"]:
        if m["name"] == BC:
            m["auto_rollback"]["enabled"] = False
    actx.models = ModelsConfig.model_validate(raw)
    assert auto_rollback.check_model(actx, WATCHER, BC, now=at(60)).why == "auto-rollback off"
    assert auto_rollback.check_model(actx, WATCHER, DIA, now=at(60)).why == "auto-rollback off"
    assert asked == [] and auto_rollback.recent_checks(actx, None, BC) == []
    assert auto_rollback.probation_status(actx, "vic", BC).state == "off"
    assert Watcher(actx, WATCHER).enabled_models() == []


def test_a_watcher_account_without_the_grant_is_refused_and_audited(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, SLOW, SLOW, SLOW, SLOW)
    stranger = Actor("vic", "job", "os:vigil@host")  # a viewer: may not roll back
    for s in (60, 65):
        auto_rollback.check_model(actx, stranger, BC, now=at(s))
    refused = auto_rollback.check_model(actx, stranger, BC, now=at(70))
    assert refused.failed and refused.denied and aliases(actx)["champion"] == "2"
    [denied] = actx.audit.query(action="model.rollback", outcome="denied")
    assert denied.actor == "vic" and denied.resource == BC
    assert refused.checked.action == "rollback_failed" and "may not model.rollback" in refused.checked.action_detail
    again = auto_rollback.check_model(actx, stranger, BC, now=at(75))  # retried at most once a minute
    assert again.failed and "less than 60 s ago" in again.why
    assert len(actx.audit.query(action="model.rollback", outcome="denied")) == 1


def test_a_champion_moved_meanwhile_is_not_rolled_back(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    script(monkeypatch, SLOW, SLOW, SLOW)
    auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    auto_rollback.check_model(actx, WATCHER, BC, now=at(65))
    uri = actx.settings.mlflow_tracking_uri
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(RM, "champion", "3")
    result = auto_rollback.check_model(actx, WATCHER, BC, now=at(70))
    assert result.failed and "is now 3, not 2" in result.why
    assert aliases(actx)["champion"] == "3"  # the outside move stands, recorded as such
    [failed] = actx.audit.query(action="model.rollback", outcome="failed")
    assert failed.actor == "system"
    assert auto_rollback.check_model(actx, WATCHER, BC, now=at(90)).why == "not on probation"


def test_the_reads_need_model_view(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, FAST)
    auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    with pytest.raises(PermissionDenied):
        auto_rollback.recent_checks(actx, "dora", BC)  # reviewer of diabetes only
    with pytest.raises(PermissionDenied):
        auto_rollback.probation_status(actx, "dora", BC)
    status = auto_rollback.probation_status(actx, "vic", BC, now=at(61))
    assert (status.state, status.version, status.streak, status.consecutive) == ("watching", "2", 0, 3)
    assert status.ends_at == PROMOTED + timedelta(hours=2) and status.last_check.outcome == "pass"
    assert "119 more minutes" in status.summary


def test_the_watcher_loop_counts_its_checks_for_metrics(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(monkeypatch, FAST)
    monkeypatch.setattr(auto_rollback, "utc_or_now", lambda moment: moment or at(60))
    watcher = Watcher(actx, WATCHER)
    results, wait = watcher.tick()
    assert [r.checked.outcome for r in results if r.checked] == ["pass"]
    assert wait == pytest.approx(15)
    samples = {(name, tuple(sorted(labels.items()))): value for name, _, _, labels, value in watcher.metric_samples()}
    assert samples[("vigil_auto_rollback_checks_total", (("model", BC), ("outcome", "pass")))] == 1
    assert samples[("vigil_auto_rollback_last_check_timestamp_seconds", ())] == at(60).timestamp()


# -- the evidence from the logs ------------------------------------------------------------------
def test_logs_evidence_is_the_versions_own_window(actx) -> None:  # type: ignore[no-untyped-def]
    from monitoring.logs.ingest import ingest_model

    now = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
    rng = np.random.default_rng(3)
    spec = actx.models.get(BC)
    features = {f.name: (14.0 if f.type == "numeric" else "north") for f in spec.features}
    rows, mine = [], []
    for i in range(400):
        version = "2" if i % 2 else "1"
        when = now - timedelta(seconds=float(rng.uniform(0, 120)))
        latency = float(rng.lognormal(5, 0.6)) if version == "2" else 20.0
        status = "error" if version == "2" and rng.random() < 0.1 else "ok"
        rows.append({"timestamp": when.isoformat(timespec="milliseconds"), "model": BC, "version": version,
                     "request_id": f"r{i}", "features": features,
                     "latency_ms": round(latency, 1), "status": status})
        if version == "2" and when > now - timedelta(seconds=60):
            mine.append((rows[-1]["latency_ms"], status))
    logs = Path(actx.settings.data_dir) / "logs" / BC
    logs.mkdir(parents=True)
    (logs / "2026-11-30.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert ingest_model(actx, Actor("root", "cli"), BC, versions=["1", "2", "3"]).rows_stored == 400
    evidence = auto_rollback.gather_evidence(actx, spec, "2", now)
    ok = [lat for lat, s in mine if s == "ok"]
    assert evidence.source == "logs" and evidence.requests == len(mine)
    assert evidence.error_ratio == pytest.approx(sum(s == "error" for _, s in mine) / len(mine))
    assert evidence.p99_ms == pytest.approx(float(np.percentile(ok, 99)), rel=1e-9)  # linear, as quantile_cont


def test_two_watchers_never_check_one_model_at_once(actx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.locks import named_lock

    asked = script(monkeypatch, SLOW)
    with named_lock(actx.engine, f"auto_rollback:{BC}", wait_s=0, holder="the other watcher"):
        busy = auto_rollback.check_model(actx, WATCHER, BC, now=at(60))
    assert busy.checked is None and "another watcher is checking it" in busy.why and asked == []
    assert auto_rollback.check_model(actx, WATCHER, BC, now=at(60)).checked.outcome == "breach"


def test_a_standby_watcher_checks_nothing(models_config: ModelsConfig) -> None:
    import threading
    from types import SimpleNamespace

    watcher = Watcher(SimpleNamespace(models=models_config), WATCHER)
    watcher.tick = lambda **_: pytest.fail("a standby must not check")  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop, lambda: False))
    thread.start()
    stop.wait(0.3)
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and watcher.checks == {}


def test_jobs_watch_once_prints_a_line_per_model_and_uses_the_exit_codes(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, "-m", "jobs.watch", "--once"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{BC}: not on probation", f"{DIA}: auto-rollback off"]
    bad = subprocess.run([sys.executable, "-m", "jobs.watch", "--model", "nope"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "model 'nope' is not configured" in bad.stderr
