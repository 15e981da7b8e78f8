"""The shared job runner: permission first, then the run record, the work, and one audit entry
of its outcome, on both databases."""

from __future__ import annotations

import pytest

from core.actor import Actor
from core.errors import PermissionDenied
from core.runs import latest_runs
from governance import access, identity
from governance.rbac import grant
from governance.runner import governed_run

ADMIN = Actor("root", "cli")
OPS = Actor("olga", "job")
NOBODY = Actor("nick", "job")


@pytest.fixture
def rctx(ctx):  # type: ignore[no-untyped-def]
    access.bootstrap_admin(ctx, "root", "root-password")
    for name in ("olga", "nick"):
        identity.create_user(ctx, ADMIN, name, f"{name}-password")
    model = ctx.models.names[0]
    grant(ctx, ADMIN, "olga", "operator", model, reason="on call")
    return ctx


def test_refusal_is_audited_and_records_no_run(rctx) -> None:  # type: ignore[no-untyped-def]
    model = rctx.models.names[0]
    ran = []
    with pytest.raises(PermissionDenied):
        with governed_run(rctx, NOBODY, "slo.run", model, job="slo"):
            ran.append(1)
    assert ran == []
    assert latest_runs(rctx.engine) == []
    entries = rctx.audit.query()
    assert [(e.actor, e.action, e.outcome) for e in entries][-1] == ("nick", "slo.run", "denied")


def test_success_records_the_run_and_audits_its_details_and_time(rctx) -> None:  # type: ignore[no-untyped-def]
    model = rctx.models.names[0]
    with governed_run(rctx, OPS, "slo.run", model, job="slo") as run:
        run.message = "2 SLOs"
        run.details = {"source": "logs"}
        run.audit = {"page": ["latency"]}
    [job] = latest_runs(rctx.engine)
    assert (job.job, job.model, job.status, job.message) == ("slo", model, "success", "2 SLOs")
    assert job.details["source"] == "logs" and job.details["seconds"] >= 0
    last = rctx.audit.query()[-1]
    assert (last.actor, last.action, last.resource, last.outcome) == ("olga", "slo.run", model, "success")
    assert last.details["page"] == ["latency"] and last.details["job_run_id"] == job.id


def test_failure_marks_the_run_failed_audits_the_reason_and_reraises(rctx) -> None:  # type: ignore[no-untyped-def]
    model = rctx.models.names[0]
    with pytest.raises(RuntimeError, match="prometheus went away"):
        with governed_run(rctx, OPS, "slo.run", model, job="slo", failure_details={"at": "now"}):
            raise RuntimeError("prometheus went away\nsecond line")
    [job] = latest_runs(rctx.engine)
    assert job.status == "failed" and "prometheus went away" in job.message
    last = rctx.audit.query()[-1]
    assert last.outcome == "failed" and last.reason == "RuntimeError: prometheus went away"
    assert last.details["at"] == "now" and last.details["job_run_id"] == job.id


def test_inner_step_without_a_run_record_still_audits(rctx) -> None:  # type: ignore[no-untyped-def]
    model = rctx.models.names[0]
    with governed_run(rctx, OPS, "slo.run", model, job="slo", record=False) as run:
        run.audit = {"window": "1h"}
    assert latest_runs(rctx.engine) == []
    assert rctx.audit.query()[-1].details["window"] == "1h"


def test_a_secret_in_a_long_failure_is_masked_before_the_reason_is_cut(rctx) -> None:  # type: ignore[no-untyped-def]
    model = rctx.models.names[0]
    secret = "hunter2-very-secret"
    message = "x" * 460 + f" postgresql://svc:{secret}@db.example:5432/prod"  # the password straddles 500
    with pytest.raises(RuntimeError):
        with governed_run(rctx, OPS, "slo.run", model, job="slo"):
            raise RuntimeError(message)
    reason = rctx.audit.query()[-1].reason
    assert "hunter2" not in reason and len(reason) <= 500
