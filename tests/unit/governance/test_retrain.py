"""The retrain queue's service (governance.retrain): who may queue, one active retrain per model
enforced by the database (concurrent transactions on SQLite and the real PostgreSQL), the atomic
claim, reaping of jobs whose heartbeat lapsed, and the retrain policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from core.context import AppContext
from core.db import write_scope
from core.errors import ConfigError, Conflict, PermissionDenied
from governance import retrain
from tests.unit.governance.release_fixtures import create_accounts
from tests.unit.governance.retrain_fixtures import BC, DIA, py, with_retrain
from tests.unit.governance.test_release_races import at_once

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OPAL, VIC = Actor("opal", "ui"), Actor("vic", "ui")


@pytest.fixture
def qctx(settings, models_config):  # type: ignore[no-untyped-def]
    """Both backends; retrain commands that print and exit; policy on for diabetes."""
    config = with_retrain(models_config, {BC: py("print('trained')"), DIA: py("print('trained')")},
                          policy={DIA: {"enabled": True, "drift_consecutive": 2, "new_labels": None}})
    context = AppContext.create(settings, models=config)
    create_accounts(context)
    yield context
    context.engine.dispose()


def test_a_viewer_is_refused_by_the_service_and_the_refusal_is_audited(qctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        retrain.request_retrain(qctx, VIC, BC, reason="please")
    last = qctx.audit.query()[-1]
    assert (last.actor, last.action, last.resource, last.outcome) == ("vic", "model.retrain", BC, "denied")
    assert retrain.list_retrains(qctx, "opal", BC) == []


def test_queue_then_second_refused_until_the_first_finishes(qctx) -> None:  # type: ignore[no-untyped-def]
    job = retrain.request_retrain(qctx, OPAL, BC, reason="drift since May", now=T0)
    assert (job.state, job.requested_by, job.trigger, job.reason) == ("queued", "opal", "manual", "drift since May")
    assert job.command == qctx.models.get(BC).retrain.command and job.timeout_s == 60
    entry = qctx.audit.query()[-1]
    assert (entry.actor, entry.action, entry.outcome) == ("opal", "model.retrain", "success")
    assert entry.details["retrain_job"] == job.id
    with pytest.raises(Conflict, match=f"retrain {job.id} of {BC} is queued"):
        retrain.request_retrain(qctx, OPAL, BC, reason="again")
    assert qctx.audit.query()[-1].outcome == "failed"
    other = retrain.request_retrain(qctx, OPAL, DIA, reason="other model is independent")
    assert other.id != job.id
    claimed = retrain.claim_next(qctx, "w1")
    assert claimed is not None and claimed.id == job.id and claimed.state == "running"  # oldest first
    with pytest.raises(Conflict, match="is running"):
        retrain.request_retrain(qctx, OPAL, BC, reason="while running")
    assert retrain.finish(qctx, job.id, "w1", succeeded=True, exit_code=0, error=None, log_tail="ok")
    again = retrain.request_retrain(qctx, OPAL, BC, reason="after it finished")
    assert again.state == "queued"
    assert [v.id for v in retrain.list_retrains(qctx, "vic", BC)] == [again.id, job.id]
    with pytest.raises(PermissionDenied):
        retrain.list_retrains(qctx, "vic", DIA)  # vic views breast-cancer only
    assert {v.model for v in retrain.list_retrains(qctx, "vic")} == {BC}


def test_a_model_without_a_retrain_command_is_refused(settings, models_config) -> None:  # type: ignore[no-untyped-def]
    context = AppContext.create(settings, models=with_retrain(models_config, {BC: ""}))
    create_accounts(context)
    try:
        with pytest.raises(ConfigError, match="retrain.command is empty"):
            retrain.request_retrain(context, OPAL, BC, reason="x")
    finally:
        context.engine.dispose()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_enqueue_yields_exactly_one_job(qctx, round_) -> None:  # type: ignore[no-untyped-def]
    out = at_once({name: (lambda name=name: retrain.request_retrain(qctx, Actor(name, "ui"), BC, reason=name))
                   for name in ("opal", "rex")})
    won = [r for r in out.values() if not isinstance(r, Exception)]
    lost = [r for r in out.values() if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1, out
    assert isinstance(lost[0], Conflict)
    assert [v.id for v in retrain.list_retrains(qctx, "opal", BC)] == [won[0].id]  # type: ignore[attr-defined]
    assert qctx.audit.verify().ok


def test_concurrent_claims_hand_a_job_to_exactly_one_worker(qctx) -> None:  # type: ignore[no-untyped-def]
    job = retrain.request_retrain(qctx, OPAL, BC, reason="race")
    out = at_once({f"w{i}": (lambda i=i: retrain.claim_next(qctx, f"w{i}")) for i in range(4)})
    got = {name: r for name, r in out.items() if r is not None}
    assert len(got) == 1, out
    (winner, view), = got.items()
    assert view.id == job.id and view.worker == winner  # type: ignore[attr-defined]
    assert retrain.claim_next(qctx, "late") is None


def test_a_lapsed_heartbeat_marks_the_job_failed_and_frees_the_model(qctx) -> None:  # type: ignore[no-untyped-def]
    job = retrain.request_retrain(qctx, OPAL, BC, reason="x", now=T0)
    retrain.claim_next(qctx, "w1", now=T0)
    assert retrain.heartbeat(qctx, job.id, "w1", log_tail="epoch 1", now=T0 + timedelta(seconds=10))
    assert retrain.reap_lapsed(qctx, OPAL, lapse_s=60, now=T0 + timedelta(seconds=60)) == []  # 50 s old
    reaped = retrain.reap_lapsed(qctx, OPAL, lapse_s=60, now=T0 + timedelta(seconds=71))
    assert [v.id for v in reaped] == [job.id]
    assert reaped[0].state == "failed" and "stopped sending heartbeats" in (reaped[0].error or "")
    assert reaped[0].log_tail == "epoch 1"
    last = qctx.audit.query()[-1]
    assert (last.action, last.outcome, last.details["step"]) == ("model.retrain", "failed", "reap")
    assert not retrain.heartbeat(qctx, job.id, "w1")  # the worker learns the job is no longer its own
    assert not retrain.finish(qctx, job.id, "w1", succeeded=True, exit_code=0, error=None, log_tail="")
    assert retrain.show_retrain(qctx, "opal", job.id).state == "failed"  # a late finish changes nothing
    assert retrain.request_retrain(qctx, OPAL, BC, reason="after the crash").state == "queued"


def _drift_run(ctx, model: str, end: datetime, drifted: bool) -> None:  # type: ignore[no-untyped-def]
    from monitoring.drift.tables import DriftRun

    with write_scope(ctx.engine) as session:
        session.add(DriftRun(model=model, version="1", window="1d", window_start=end - timedelta(days=1),
                             window_end=end, at=end, status="ok", rows=100, dataset_drift=drifted))


def test_policy_queues_as_system_after_k_consecutive_drifted_runs(qctx) -> None:  # type: ignore[no-untyped-def]
    job_account = Actor("opal", "job")
    assert retrain.evaluate_policy(qctx, job_account, BC).why == "policy off"  # off by default
    _drift_run(qctx, DIA, T0, True)
    _drift_run(qctx, DIA, T0 + timedelta(days=1), False)
    _drift_run(qctx, DIA, T0 + timedelta(days=2), True)
    assert not retrain.evaluate_policy(qctx, job_account, DIA).triggered  # 1 of the last 2
    _drift_run(qctx, DIA, T0 + timedelta(days=3), True)
    outcome = retrain.evaluate_policy(qctx, job_account, DIA)
    assert outcome.triggered and outcome.job is not None
    assert (outcome.job.requested_by, outcome.job.trigger) == ("system", "policy")
    assert "last 2 drift runs" in outcome.job.reason
    last = qctx.audit.query()[-1]
    assert (last.actor, last.action, last.resource, last.outcome) == ("system", "model.retrain", DIA, "success")
    again = retrain.evaluate_policy(qctx, job_account, DIA)  # already queued: nothing new
    assert not again.triggered and "queued" in again.why
    with pytest.raises(PermissionDenied):
        retrain.evaluate_policy(qctx, Actor("vic", "job"), DIA)
    assert qctx.audit.query()[-1].outcome == "denied"


def _labelled_part(ctx, model: str, name: str, stamps: list[datetime], labels: list[str | None] | None) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitoring.logs.schema import model_store_dir

    folder = model_store_dir(ctx.settings.logstore_dir, model) / "date=2026-11-30"
    folder.mkdir(parents=True, exist_ok=True)
    columns = {"timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
               "request_id": [f"{name}-{i}" for i in range(len(stamps))]}
    if labels is not None:
        columns["label"] = pa.array(labels, pa.string())
    pq.write_table(pa.table(columns), folder / f"{name}.parquet")


def test_policy_counts_labelled_rows_since_the_last_succeeded_retrain(settings, models_config) -> None:  # type: ignore[no-untyped-def]
    config = with_retrain(models_config, {BC: py("print(1)")},
                          policy={BC: {"enabled": True, "drift_consecutive": None, "new_labels": 4}})
    context = AppContext.create(settings, models=config)
    create_accounts(context)
    try:
        assert retrain.evaluate_policy(context, OPAL, BC).why == "no trigger"  # no logs at all
        _labelled_part(context, BC, "unlabelled", [T0 - timedelta(hours=2)] * 3, None)  # no label column
        assert retrain.labelled_rows_since(context, BC, None) == 0
        before = [T0 - timedelta(hours=1)] * 3
        after = [T0 + timedelta(minutes=m) for m in range(1, 7)]
        _labelled_part(context, BC, "labelled", before + after, ["1", "0", "1", "1", None, "0", None, "1", "1"])
        assert retrain.labelled_rows_since(context, BC, None) == 7
        job = retrain.request_retrain(context, OPAL, BC, reason="baseline", now=T0 - timedelta(hours=3))
        retrain.claim_next(context, "w1")
        retrain.finish(context, job.id, "w1", succeeded=True, exit_code=0, error=None, log_tail="", now=T0)
        assert retrain.last_training(context, BC) == T0
        assert retrain.labelled_rows_since(context, BC, T0) == 4  # labelled rows after T0 (2 are unlabelled)
        outcome = retrain.evaluate_policy(context, OPAL, BC)
        assert outcome.triggered and "4 new labelled rows since 2026-11-30T12:00:00Z" in outcome.why
    finally:
        context.engine.dispose()


def test_retrain_config_keeps_the_older_minutes_form_and_the_policy_is_off_by_default(models_config) -> None:  # type: ignore[no-untyped-def]
    from core.config import RetrainSpec

    shipped = models_config.get(BC).retrain  # config/models.yaml: timeout_minutes: 30
    assert shipped.timeout_seconds == 30 * 60 and not shipped.policy.enabled
    assert shipped.policy.new_labels == 1000
    assert RetrainSpec(command="x", timeout_minutes=30, timeout_s=90).timeout_seconds == 90
    with pytest.raises(ValueError):
        RetrainSpec(command="x", timeout_s=0)
