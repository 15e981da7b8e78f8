"""`python -m jobs.demo` end to end, as a subprocess in a fresh data directory.

It talks to a real MLflow registry (the demo's own SQLite one) and writes real files: the
build must leave three trained versions per model with a champion (and a fourth breast-cancer
version waiting for approvals), 30 days of logs per model, demo accounts, an open and a rejected
release request, a history with one rollback and one retrain, and a second run must change
nothing. It builds in demo mode, as
``manage.py demo`` does (demo accounts act only then).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo import BAD_RECORDS, TIMELINE_DAYS, incident_windows

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # builds the whole demo
REPO = Path(__file__).resolve().parents[2]
ANCHOR = "2026-11-01T15:00:00Z"
MODELS = {"breast-cancer": "breast-cancer-mlp", "diabetes": "diabetes-gbr"}


def _env(data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "MLFLOW_TRACKING_URI", "VIGIL_CONFIG", "VIGIL_DEMO"}
    }
    env["VIGIL_DATA_DIR"] = str(data)
    env["VIGIL_DEMO"] = "true"
    return env


def _demo(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.demo", *args],
        cwd=REPO,
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _hashes(data: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data / "logs").rglob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    data = tmp_path_factory.mktemp("demo") / "data"
    started = time.monotonic()
    result = _demo(data, "--anchor", ANCHOR)
    return data, result, time.monotonic() - started


def _registry(data: Path):  # type: ignore[no-untyped-def]
    from governance.registry import ModelRegistry

    return ModelRegistry(f"sqlite:///{data / 'mlflow' / 'mlflow.db'}")


def test_build_succeeds_and_prints_how_to_sign_in(built) -> None:  # type: ignore[no-untyped-def]
    _, result, seconds = built
    assert result.returncode == 0, result.stderr[-3000:]
    assert "http://localhost:8501" in result.stdout
    for role in ("viewer", "operator", "reviewer", "security", "auditor", "admin"):
        assert f"username {role}" in result.stdout
    assert "reviewer  username reviewer2 password demo-reviewer2" in result.stdout
    assert "VIGIL_DEMO=true" in result.stdout
    assert "Traceback" not in result.stderr
    assert seconds < 300  # the budget is 2 minutes on an idle machine; this box is shared


def test_registry_has_three_versions_with_metrics_and_a_champion(built) -> None:  # type: ignore[no-untyped-def]
    data, result, _ = built
    assert result.returncode == 0
    registry = _registry(data)
    bc = registry.list_versions("breast-cancer-mlp")
    assert [v.version for v in bc] == ["4", "3", "2", "1"]  # 4: the retrain waiting for approvals
    assert all({"accuracy", "f1", "roc_auc"} <= set(v.metrics) for v in bc)
    assert bc[1].metrics["accuracy"] > bc[3].metrics["accuracy"]
    diabetes = registry.list_versions("diabetes-gbr")
    assert [v.version for v in diabetes] == ["3", "2", "1"]
    assert all({"rmse", "mae", "r2"} <= set(v.metrics) for v in diabetes)
    for registered in MODELS.values():
        champion = registry.champion(registered)
        assert champion is not None and champion.version == "3"


def test_reference_data_matches_the_configured_features(built) -> None:  # type: ignore[no-untyped-def]
    from core.config import load_models_config

    data, _, _ = built
    config = load_models_config(REPO / "config" / "models.yaml")
    for model, registered in MODELS.items():
        frame = _registry(data).reference_data(registered, "3")
        assert list(frame.columns) == [f.name for f in config.get(model).features]
        assert len(frame) > 300
    import torch

    mlp = _registry(data).load_model("breast-cancer-mlp", "3")
    assert isinstance(mlp, torch.nn.Module) and not mlp.training


def test_thirty_days_of_logs_per_model_with_the_incidents(built) -> None:  # type: ignore[no-untyped-def]
    data, _, _ = built
    for model in MODELS:
        files = sorted((data / "logs" / model).glob("*.jsonl"))
        assert len(files) == TIMELINE_DAYS
        assert files[-1].name == "2026-11-01.jsonl"
    start, end = incident_windows(datetime(2026, 11, 1, 15, tzinfo=UTC))["breast-cancer-latency-errors"]
    day = data / "logs" / "breast-cancer" / f"{start:%Y-%m-%d}.jsonl"
    records = []
    for line in day.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    window = [r for r in records if f"{start:%Y-%m-%dT%H}" <= r["timestamp"][:13] < f"{end:%Y-%m-%dT%H}"]
    assert len(window) > 100
    assert 0.05 < sum(r["status"] == "error" for r in window) / len(window) < 0.3
    assert {r["version"] for r in window} == {"3"}


def test_job_run_and_accounts_are_recorded(built) -> None:  # type: ignore[no-untyped-def]
    from core.db import make_engine
    from core.runs import latest_run_per_job
    from governance.access import demo_password  # noqa: F401  (the contract the output relies on)

    data, _, _ = built
    engine = make_engine(f"sqlite:///{data / 'vigil.db'}")
    try:
        runs = {r.job: r for r in latest_run_per_job(engine) if r.model is None}
        assert runs["demo"].status == "success"
        # the demo ran the monitoring jobs over its timeline, each recorded like a cron run
        jobs_run = {r.job for r in latest_run_per_job(engine)}
        assert {"ingest", "drift", "slo", "health", "shap"} <= jobs_run
    finally:
        engine.dispose()
    manifest = json.loads((data / "demo" / "manifest.json").read_text())
    assert manifest["anchor"].startswith("2026-11-01T15:00")
    assert {"train", "logs", "accounts", "ingest", "drift", "slo", "health", "shap", "releases"} \
        <= set(manifest["steps"])
    assert "demo-admin" not in json.dumps(manifest)  # passwords are printed, never stored


def test_the_demo_leaves_a_rollback_and_a_retrain_in_the_history(built) -> None:  # type: ignore[no-untyped-def]
    """Deliverable 9's history, every step through the services: diabetes rolled back 3 -> 2 by the
    operator with a reason and version 3 released again; the breast-cancer retrain run through the
    queue, which produced version 4 and opened its request. The scheduler's release cycle then finds
    nothing to do (this test runs before the one that retrains diabetes), and `python -m jobs.audit
    verify` says OK."""
    from core.context import AppContext
    from core.settings import Settings
    from demo.releases import RERELEASE_COMMENT, RETRAIN_REASON, ROLLBACK_REASON
    from governance.release_reads import alias_moves
    from governance.releases import list_requests
    from governance.retrain import list_retrains

    data, result, _ = built
    assert result.returncode == 0, result.stderr[-3000:]
    ctx = AppContext.create(Settings.from_env(_env(data)))
    try:
        champion_moves = [(m.kind, m.from_version, m.to_version, m.actor)
                          for m in alias_moves(ctx, "viewer", "diabetes") if m.alias == "champion"]
        assert champion_moves == [("promotion", "2", "3", "reviewer"), ("rollback", "3", "2", "operator"),
                                  ("external", None, "3", "outside the console")]  # newest first
        [rollback] = [m for m in alias_moves(ctx, "viewer", "diabetes") if m.kind == "rollback"
                      and m.alias == "champion"]
        assert rollback.reason == ROLLBACK_REASON
        assert _registry(data).aliases("diabetes-gbr") == {"champion": "3", "previous-champion": "2"}
        [rerelease] = [v for v in list_requests(ctx, viewer="viewer", model="diabetes") if v.state == "promoted"]
        assert (rerelease.version, rerelease.requested_by) == ("3", "scheduler")
        assert [(d.approver, d.decision, d.comment) for d in rerelease.decisions] == \
            [("reviewer", "approve", RERELEASE_COMMENT)]
        [audited] = ctx.audit.query(action="model.rollback", resource="diabetes")
        assert (audited.actor, audited.outcome, audited.details["old_version"], audited.details["new_version"],
                audited.details["reason"]) == ("operator", "success", "3", "2", ROLLBACK_REASON)
        # breast-cancer: its champion recorded as found, never moved
        assert [(m.kind, m.to_version) for m in alias_moves(ctx, "viewer", "breast-cancer")] == [("external", "3")]

        [job] = list_retrains(ctx, "viewer")
        [waiting] = list_requests(ctx, viewer="viewer", model="breast-cancer")
        assert (job.model, job.state, job.requested_by, job.trigger, job.reason) == \
            ("breast-cancer", "succeeded", "operator", "manual", RETRAIN_REASON)
        assert (job.produced_version, job.release_request_id, job.exit_code) == ("4", waiting.id, 0)
        assert job.command == "python -m jobs.demo --retrain breast-cancer"
        assert "VIGIL_VERSION=4" in job.log_tail and "breast-cancer-mlp version 4" in job.log_tail
        assert waiting.reason.startswith(f"retrain {job.id} (manual, asked by operator)")
    finally:
        ctx.engine.dispose()

    cycle = subprocess.run([sys.executable, "-m", "jobs.release"], cwd=REPO, env=_env(data), capture_output=True,
                           text=True, timeout=300, check=False)
    assert cycle.returncode == 0, cycle.stderr[-3000:]
    assert "0 release request(s) past their expiry closed" in cycle.stdout
    assert "breast-cancer: version 4 already had release request" in cycle.stdout
    assert "diabetes: champion is version 3, the newest: nothing to request" in cycle.stdout
    assert cycle.stdout.count("no champion move outside the console") == 2
    verify = subprocess.run([sys.executable, "-m", "jobs.audit", "verify"], cwd=REPO, env=_env(data),
                            capture_output=True, text=True, timeout=300, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_second_run_is_idempotent_and_retrain_adds_one_version(built) -> None:  # type: ignore[no-untyped-def]
    data, first, _ = built
    assert first.returncode == 0
    before = _hashes(data)
    again = _demo(data)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "train: already done" in again.stderr and "logs: already done" in again.stderr
    assert _hashes(data) == before
    assert [v.version for v in _registry(data).list_versions("diabetes-gbr")] == ["3", "2", "1"]
    assert len(_registry(data).list_versions("breast-cancer-mlp")) == 4  # the releases step adds nothing twice
    assert "releases: request" not in again.stderr

    retrained = _demo(data, "--retrain", "diabetes")
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "diabetes-gbr version 4" in retrained.stdout
    versions = _registry(data).list_versions("diabetes-gbr")
    assert [v.version for v in versions] == ["4", "3", "2", "1"]
    assert _registry(data).champion("diabetes-gbr").version == "3"  # type: ignore[union-attr]

    wrong = _demo(data, "--retrain", "no-such-model")
    assert wrong.returncode == 2 and "no-such-model" in wrong.stderr and "Traceback" not in wrong.stderr
    clash = _demo(data, "--anchor", "2026-10-01T00:00Z")
    assert clash.returncode != 0 and "--force" in clash.stderr
    assert len(BAD_RECORDS) == 4


def test_the_demo_leaves_an_open_and_a_rejected_release_request(built) -> None:  # type: ignore[no-untyped-def]
    from core.context import AppContext
    from core.settings import Settings
    from governance.releases import list_requests

    data, result, _ = built
    assert result.returncode == 0, result.stderr[-3000:]
    ctx = AppContext.create(Settings.from_env(_env(data)))
    try:
        requests = list_requests(ctx, viewer="viewer")
        by_state = {v.state: v for v in requests}
        assert sorted(by_state) == ["open", "promoted", "rejected"] and len(requests) == 3  # promoted: the history
        waiting = by_state["open"]
        assert (waiting.model, waiting.version, waiting.requested_by) == ("breast-cancer", "4", "scheduler")
        assert {g.name: g.status for g in waiting.gates} == {
            "min_accuracy": "pass", "min_roc_auc": "pass", "min_completeness_pct": "pass",
            "max_drift_share": "pass", "max_psi": "pass", "max_latency_p95_ms": "no evidence"}
        assert waiting.blocking_gates == []  # version 4 never served: its advisory latency gate waits
        assert [(s.name, s.role, s.approvals, s.approved_by) for s in waiting.stages] == \
            [("review", "reviewer", 2, ()), ("security", "security", 1, ())]
        assert {v.model for v in list_requests(ctx, viewer="reviewer2", decidable=True)} == {"breast-cancer"}
        assert list_requests(ctx, viewer="security", decidable=True) == []  # the review comes first
        rejected = by_state["rejected"]
        assert (rejected.model, rejected.version) == ("diabetes", "1")
        [decision] = rejected.decisions
        assert (decision.approver, decision.decision) == ("reviewer", "reject")
        assert decision.comment.startswith("A quick baseline") and rejected.closed_reason == decision.comment
        retrain = ctx.audit.query(action="model.retrain", resource="breast-cancer")
        # version 4, trained once by the demo: asked for by the operator, run by the worker (the
        # scheduler account), whose command (jobs.demo --retrain, as the job account) trained it
        assert sorted((e.actor, e.outcome) for e in retrain) == \
            [("operator", "success"), ("scheduler", "success"), ("scheduler", "success")]
        assert ctx.audit.verify().ok
    finally:
        ctx.engine.dispose()

