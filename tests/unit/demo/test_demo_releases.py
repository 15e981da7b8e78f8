"""The demo's release step (demo/releases.py) in parts. Outside demo mode the demo accounts may
not act, so the rejected request and the rollback history are left for a build in demo mode
instead of being written by accounts that could not have done them; the retrain goes through the
queue once (tests/integration/test_demo.py builds the whole demo in demo mode)."""

from __future__ import annotations

import dataclasses


def test_outside_demo_mode_the_rejection_waits_for_demo_mode(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from demo.pipeline import _job_actor
    from demo.releases import _rejected
    from governance.access import ensure_demo_accounts
    from governance.releases import list_requests

    ctx = sqlite_ctx
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=False)
    ensure_demo_accounts(ctx)
    said: list[str] = []
    assert _rejected(ctx, _job_actor(ctx), said.append) == {"skipped": "demo mode off"}
    assert said and "acts only in demo mode" in said[0]
    assert list_requests(ctx, viewer="scheduler") == []  # nothing half-done left behind


def test_outside_demo_mode_the_rollback_history_waits_for_demo_mode(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    from demo.pipeline import _job_actor
    from demo.releases import _history
    from governance.access import ensure_demo_accounts
    from governance.release_reads import alias_moves

    ctx = sqlite_ctx
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=False)
    ensure_demo_accounts(ctx)
    said: list[str] = []
    assert _history(ctx, _job_actor(ctx), said.append) == {"skipped": "demo mode off"}
    assert said and "act only in demo mode" in said[0]
    assert alias_moves(ctx, None, "diabetes") == []  # no alias moved, nothing requested
    assert [e for e in ctx.audit.query() if e.action in ("model.rollback", "release.request")] == []


def test_the_demo_retrain_goes_through_the_queue_once(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    """The retrain step asks for a retrain (the operator, in demo mode) and runs it as the worker
    does: the job is recorded with its log tail and the version its command reported; a second
    build finds it and queues nothing. (A one-line command stands in for the demo's training, which
    tests/integration/test_demo.py runs for real.)"""
    from demo.pipeline import _job_actor
    from demo.releases import RETRAIN_REASON, _retrain
    from governance.access import ensure_demo_accounts
    from governance.retrain import list_retrains
    from tests.unit.governance.retrain_fixtures import py, with_retrain

    ctx = sqlite_ctx
    ctx.models = with_retrain(ctx.models, {"breast-cancer": py("print('training the MLP'); print('VIGIL_VERSION=4')")})
    ctx.settings = dataclasses.replace(ctx.settings, demo_mode=True)
    ensure_demo_accounts(ctx)
    said: list[str] = []
    first = _retrain(ctx, _job_actor(ctx), said.append)
    assert (first["state"], first["version"]) == ("succeeded", "4")
    [job] = list_retrains(ctx, "viewer")
    assert (job.model, job.state, job.requested_by, job.trigger, job.reason) == \
        ("breast-cancer", "succeeded", "operator", "manual", RETRAIN_REASON)
    assert job.produced_version == "4" and "training the MLP" in job.log_tail and job.exit_code == 0
    assert any("queued by operator" in line for line in said)
    enqueued = [e for e in ctx.audit.query() if e.action == "model.retrain"]
    assert [(e.actor, e.outcome, e.details.get("step")) for e in enqueued] == \
        [("operator", "success", "enqueue"), ("scheduler", "success", "run")]
    again: list[str] = []
    assert _retrain(ctx, _job_actor(ctx), again.append)["job"] == job.id and again == []
    assert len(list_retrains(ctx, "viewer")) == 1
