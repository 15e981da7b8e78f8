"""Release requests and their approval chain on both databases: permissions refused by the
service and audited, four eyes, one decision per person, comments on rejections, gates that
block, expiry, supersession, stage order, what each viewer sees, and the database constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from core.actor import Actor
from core.context import AppContext
from core.db import write_scope
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance import releases
from governance.release_gates import Evidence
from governance.release_tables import ReleaseDecision
from tests.unit.governance.release_fixtures import (
    BC,
    DIA,
    FakeVersions,
    create_accounts,
    facts,
    two_stage_models,
)

GOOD = dict(accuracy=0.93, roc_auc=0.97)
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def A(name: str) -> Actor:  # noqa: N802
    return Actor(name, "ui", "198.51.100.7")


@pytest.fixture
def rctx(settings, models_config):  # type: ignore[no-untyped-def]
    context = AppContext.create(settings, models=two_stage_models(models_config))
    create_accounts(context)
    yield context
    context.engine.dispose()


def last(ctx, **match):  # type: ignore[no-untyped-def]
    entries = [e for e in ctx.audit.query() if all(getattr(e, k) == v for k, v in match.items())]
    assert entries, f"no audit entry with {match}"
    return entries[-1]


def open_bc(ctx, version="3", by="opal", **metrics):  # type: ignore[no-untyped-def]
    source = FakeVersions(facts(version, **(metrics or GOOD)))
    return releases.request_release(ctx, A(by), BC, version, versions=source, now=T0)


def test_request_snapshots_gates_and_the_chain_and_is_audited(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx)
    assert (view.model, view.version, view.state, view.requested_by) == (BC, "3", "open", "opal")
    assert view.expires_at == T0 + timedelta(days=14)
    gates = {g.name: (g.status, g.value, g.mode) for g in view.gates}
    assert gates == {"min_accuracy": ("pass", 0.93, "blocking"), "min_roc_auc": ("pass", 0.97, "blocking"),
                     "max_latency_p95_ms": ("no evidence", None, "advisory")}
    assert view.blocking_gates == []
    chain = [(s.name, s.role, s.approvals) for s in view.stages]
    assert chain == [("review", "reviewer", 2), ("signoff", "admin", 1)]
    assert view.current_stage.name == "review"
    entry = last(rctx, action="release.request")
    assert (entry.actor, entry.outcome, entry.resource) == ("opal", "success", BC)
    assert entry.details["request_id"] == view.id and entry.details["gates"]["min_roc_auc"] == "pass"


def test_every_state_change_is_refused_without_permission_and_audited(rctx) -> None:  # type: ignore[no-untyped-def]
    source = FakeVersions(facts("3", **GOOD))
    with pytest.raises(PermissionDenied):
        releases.request_release(rctx, A("vic"), BC, "3", versions=source, now=T0)
    assert last(rctx, action="release.request").outcome == "denied"
    view = open_bc(rctx)
    for call in (lambda: releases.approve(rctx, A("vic"), view.id, now=T0),
                 lambda: releases.reject(rctx, A("vic"), view.id, comment="no", now=T0),
                 lambda: releases.approve(rctx, A("opal"), view.id, now=T0),  # operator: no release.approve
                 lambda: releases.approve(rctx, A("dora"), view.id, now=T0)):  # reviewer of another model
        before = len(rctx.audit.query())
        with pytest.raises(PermissionDenied):
            call()
        [entry] = rctx.audit.query()[before:]
        assert entry.outcome == "denied" and entry.action == "release.approve" and entry.resource == BC
    with pytest.raises(PermissionDenied):
        releases.expire_due(rctx, A("vic"), now=T0 + timedelta(days=15))
    assert last(rctx, actor="vic", action="release.request").outcome == "denied"
    assert releases.show_request(rctx, "root", view.id).state == "open"
    assert releases.show_request(rctx, "root", view.id, now=T0).decisions == ()


def test_four_eyes_requester_and_author_may_not_decide(rctx) -> None:  # type: ignore[no-untyped-def]
    source = FakeVersions(facts("3", author="rob", **GOOD))
    view = releases.request_release(rctx, A("rex"), BC, "3", versions=source, now=T0)
    assert view.version_author == "rob"
    with pytest.raises(PermissionDenied, match="four eyes"):
        releases.approve(rctx, A("rex"), view.id, now=T0)
    assert last(rctx, actor="rex", action="release.approve").outcome == "denied"
    with pytest.raises(PermissionDenied, match="author"):
        releases.reject(rctx, A("rob"), view.id, comment="mine anyway", now=T0)
    assert last(rctx, actor="rob", action="release.reject").outcome == "denied"
    assert releases.show_request(rctx, "root", view.id, now=T0).decisions == ()


def test_two_stages_in_order_and_one_person_one_decision(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx)
    with pytest.raises(Conflict, match="at stage 'review'"):
        releases.approve(rctx, A("root"), view.id, stage="signoff", now=T0)
    assert last(rctx, actor="root", action="release.approve").outcome == "failed"
    releases.approve(rctx, A("ada"), view.id, comment="metrics fine", now=T0)
    with pytest.raises(PermissionDenied, match="one decision per request"):
        releases.approve(rctx, A("ada"), view.id, now=T0)
    after = releases.approve(rctx, A("rita"), view.id, stage="review", now=T0)
    assert after.state == "open" and after.current_stage.name == "signoff"
    assert after.stages[0].approved_by == ("ada", "rita")
    # ada holds admin, the signoff role, but already decided the review stage
    with pytest.raises(PermissionDenied, match="already decided stage 'review'"):
        releases.approve(rctx, A("ada"), view.id, now=T0)
    # a reviewer is not an admin: the signoff stage needs the admin role
    with pytest.raises(PermissionDenied, match="decided by a admin"):
        releases.approve(rctx, A("rob"), view.id, now=T0)
    done = releases.approve(rctx, A("root"), view.id, now=T0)
    # the final approval promotes the version; this test has no MLflow registry, so the promotion
    # fails and says why (governance.promotion is tested against a real registry in test_promotion.py)
    assert done.state == "promotion_failed" and done.current_stage is None
    assert "mlflow.db does not exist" in done.closed_reason
    assert [(d.ordinal, d.stage, d.approver, d.decision) for d in done.decisions] == [
        (1, "review", "ada", "approve"), (2, "review", "rita", "approve"), (3, "signoff", "root", "approve")]
    assert last(rctx, actor="root", action="release.approve").details["state"] == "approved"
    with pytest.raises(Conflict, match="is promotion_failed; it can no longer be decided"):
        releases.reject(rctx, A("ruth"), view.id, comment="too late", now=T0)


def test_reject_needs_a_comment_and_closes_the_request(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx)
    with pytest.raises(InvalidInput, match="needs a comment"):
        releases.reject(rctx, A("rita"), view.id, comment="   ", now=T0)
    assert last(rctx, actor="rita", action="release.reject").outcome == "failed"
    assert releases.show_request(rctx, "rita", view.id, now=T0).state == "open"
    done = releases.reject(rctx, A("rita"), view.id, comment="ROC AUC below the champion's", now=T0)
    assert (done.state, done.closed_reason) == ("rejected", "ROC AUC below the champion's")
    with pytest.raises(Conflict, match="is rejected"):
        releases.approve(rctx, A("rob"), view.id, now=T0)


def test_blocking_gates_stop_approval_but_not_rejection(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx, accuracy=0.85)  # fails min_accuracy; roc_auc not logged: no evidence
    status = {g.name: g.status for g in view.gates}
    assert status["min_accuracy"] == "fail" and status["min_roc_auc"] == "no evidence"
    assert {g.name for g in view.blocking_gates} == {"min_accuracy", "min_roc_auc"}
    with pytest.raises(Conflict, match="blocking gates"):
        releases.approve(rctx, A("rita"), view.id, now=T0)
    assert last(rctx, actor="rita", action="release.approve").outcome == "failed"
    assert releases.reject(rctx, A("rita"), view.id, comment="gates fail", now=T0).state == "rejected"


def test_advisory_failure_does_not_block(rctx) -> None:  # type: ignore[no-untyped-def]
    source = FakeVersions(facts("3", **GOOD))
    view = releases.request_release(rctx, A("opal"), BC, "3", versions=source, now=T0,
                                    evidence={"latency_p95_ms": Evidence(400.0, "shadow logs")})
    latency = next(g for g in view.gates if g.name == "max_latency_p95_ms")
    assert (latency.status, latency.source, latency.blocks) == ("fail", "shadow logs", False)
    assert releases.approve(rctx, A("rita"), view.id, now=T0).stages[0].approved_by == ("rita",)


def test_expired_request_cannot_be_decided_and_is_closed_by_the_sweep(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx)
    later = T0 + timedelta(days=14, seconds=1)
    assert releases.show_request(rctx, "rita", view.id, now=T0 + timedelta(days=13)).state == "open"
    assert releases.show_request(rctx, "rita", view.id, now=later).state == "expired"
    with pytest.raises(Conflict, match="is expired"):
        releases.approve(rctx, A("rita"), view.id, now=later)
    assert releases.expire_due(rctx, A("opal"), now=T0 + timedelta(days=13)) == []
    assert releases.expire_due(rctx, A("opal"), now=later) == [view.id]
    assert last(rctx, action="release.expire").details["request_id"] == view.id
    stored = releases.show_request(rctx, "rita", view.id, now=T0)  # stored state, whatever the clock
    assert stored.state == "expired" and stored.closed_reason == "expired"
    # the model is free for a new request
    again = releases.request_release(rctx, A("opal"), BC, "3", versions=FakeVersions(facts("3", **GOOD)),
                                     now=later)
    assert again.state == "open" and again.id != view.id


def test_a_newer_version_supersedes_an_open_request(rctx) -> None:  # type: ignore[no-untyped-def]
    source = FakeVersions(facts("3", **GOOD), facts("4", **GOOD), facts("2", **GOOD))
    v3 = releases.request_release(rctx, A("opal"), BC, "3", versions=source, now=T0)
    with pytest.raises(Conflict, match="already open"):
        releases.request_release(rctx, A("opal"), BC, "3", versions=source, now=T0)
    assert last(rctx, action="release.request").outcome == "failed"
    v4 = releases.request_release(rctx, A("opal"), BC, None, versions=source, now=T0)  # newest = 4
    assert v4.version == "4"
    old = releases.show_request(rctx, "rita", v3.id, now=T0)
    assert old.state == "superseded" and "version 4" in old.closed_reason
    assert last(rctx, action="release.request").details["superseded"] == v3.id
    with pytest.raises(Conflict, match="newer version 4"):
        releases.request_release(rctx, A("opal"), BC, "2", versions=source, now=T0)
    with pytest.raises(Conflict, match="is superseded"):
        releases.approve(rctx, A("rita"), v3.id, now=T0)
    with pytest.raises(NotFound, match="no version 9"):
        releases.request_release(rctx, A("opal"), BC, "9", versions=source, now=T0)


def test_lists_show_what_the_viewer_may_see_and_decide(rctx) -> None:  # type: ignore[no-untyped-def]
    bc = open_bc(rctx)
    dia = releases.request_release(rctx, A("opal"), DIA, "7", versions=FakeVersions(facts("7", rmse=50.0)),
                                   now=T0)
    assert [v.id for v in releases.list_requests(rctx, "rita", now=T0)] == [dia.id, bc.id]
    assert [v.id for v in releases.list_requests(rctx, "vic", now=T0)] == [bc.id]  # viewer of BC only
    assert releases.list_requests(rctx, "vic", now=T0, decidable=True) == []
    assert [v.id for v in releases.list_requests(rctx, "dora", now=T0, decidable=True)] == [dia.id]
    assert [v.id for v in releases.list_requests(rctx, "rita", model=BC, state="open", now=T0)] == [bc.id]
    assert releases.list_requests(rctx, "rita", state="expired", now=T0 + timedelta(days=15)) != []
    with pytest.raises(PermissionDenied):
        releases.show_request(rctx, "vic", dia.id)
    with pytest.raises(PermissionDenied):
        releases.list_requests(rctx, "vic", model=DIA)
    releases.approve(rctx, A("rita"), bc.id, now=T0)
    assert [v.id for v in releases.list_requests(rctx, "rita", decidable=True, now=T0)] == [dia.id]


def test_the_database_refuses_a_second_decision_by_one_person_and_a_duplicate_ordinal(rctx) -> None:  # type: ignore[no-untyped-def]
    view = open_bc(rctx)

    def insert(ordinal: int, approver: str) -> None:
        with write_scope(rctx.engine) as session:
            session.add(ReleaseDecision(request_id=view.id, ordinal=ordinal, stage="review",
                                        approver=approver,
                                        decision="approve", comment="", decided_at=T0))

    insert(1, "rita")
    with pytest.raises(IntegrityError):
        insert(2, "rita")  # same person again, even at another position
    with pytest.raises(IntegrityError):
        insert(1, "rob")  # a second outcome at the same position
    insert(2, "rob")
    stored = releases.show_request(rctx, "root", view.id, now=T0).decisions
    assert [d.approver for d in stored] == ["rita", "rob"]


def test_a_misconfigured_stage_role_is_named(rctx, models_config) -> None:  # type: ignore[no-untyped-def]
    raw = models_config.model_dump()
    raw["models"][1]["approval"]["stages"] = [{"name": "review", "role": "auditor"}]
    rctx.models = type(models_config).model_validate(raw)
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="role 'auditor'"):
        releases.request_release(rctx, A("opal"), DIA, "7", versions=FakeVersions(facts("7", rmse=1.0)),
                                 now=T0)


def test_without_four_eyes_the_requester_may_decide_but_still_only_once(rctx, models_config) -> None:  # type: ignore[no-untyped-def]
    raw = two_stage_models(models_config).model_dump()
    raw["models"][0]["approval"]["four_eyes"] = False
    rctx.models = type(models_config).model_validate(raw)
    source = FakeVersions(facts("3", author="rex", **GOOD))
    view = releases.request_release(rctx, A("rex"), BC, "3", versions=source, now=T0)
    assert releases.approve(rctx, A("rex"), view.id, now=T0).stages[0].approved_by == ("rex",)
    with pytest.raises(PermissionDenied, match="one decision per request"):
        releases.approve(rctx, A("rex"), view.id, now=T0)
