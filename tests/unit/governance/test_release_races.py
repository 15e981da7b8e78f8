"""Two reviewers deciding at the same moment yield exactly one outcome: concurrent transactions
(threads released together by a barrier) on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.actor import Actor
from core.context import AppContext
from core.db import session_scope
from core.errors import Conflict, VigilError
from governance import releases
from governance.release_tables import ReleaseDecision
from tests.unit.governance.release_fixtures import (
    BC,
    DIA,
    FakeVersions,
    create_accounts,
    facts,
    two_stage_models,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def rctx(settings, models_config):  # type: ignore[no-untyped-def]
    context = AppContext.create(settings, models=two_stage_models(models_config))
    create_accounts(context)
    yield context
    context.engine.dispose()


def at_once(calls: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run the calls in threads released together; name -> result or the error raised."""
    barrier = threading.Barrier(len(calls))
    out: dict[str, object] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            out[name] = call()
        except VigilError as exc:
            out[name] = exc

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(out) == len(calls), "a decision never returned"
    return out


def decisions_of(ctx, request_id: int) -> int:  # type: ignore[no-untyped-def]
    with session_scope(ctx.engine) as session:
        return session.scalar(select(func.count()).where(ReleaseDecision.request_id == request_id))


@pytest.mark.parametrize("round_", range(3))
def test_approve_and_reject_at_once_yield_exactly_one_outcome(rctx, round_) -> None:  # type: ignore[no-untyped-def]
    version = str(10 + round_)
    view = releases.request_release(rctx, Actor("opal", "ui"), DIA, version,
                                    versions=FakeVersions(facts(version, rmse=50.0)), now=T0)
    out = at_once({
        "rita": lambda: releases.approve(rctx, Actor("rita", "ui"), view.id, now=T0),
        "rob": lambda: releases.reject(rctx, Actor("rob", "ui"), view.id, comment="not yet", now=T0),
    })
    winners = [n for n, r in out.items() if not isinstance(r, Exception)]
    losers = [n for n, r in out.items() if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1, out
    assert isinstance(out[losers[0]], Conflict) and "can no longer be decided" in str(out[losers[0]])
    final = releases.show_request(rctx, "root", view.id, now=T0)
    # an approval is final here and promotes; without an MLflow registry the promotion fails
    assert final.state == ("promotion_failed" if winners == ["rita"] else "rejected")
    assert [d.approver for d in final.decisions] == winners
    assert decisions_of(rctx, view.id) == 1
    entries = [e for e in rctx.audit.query(action="release.*") if e.details.get("request_id") == view.id
               and e.action in ("release.approve", "release.reject")]
    expected = [(winners[0], "success"), (losers[0], "failed")]
    assert sorted((e.actor, e.outcome) for e in entries) == sorted(expected)
    assert rctx.audit.verify().ok  # the decision's entry, written inside its transaction, kept the chain


def test_three_approvals_for_a_stage_of_two_record_exactly_two(rctx) -> None:  # type: ignore[no-untyped-def]
    view = releases.request_release(rctx, Actor("opal", "ui"), BC, "3",
                                    versions=FakeVersions(facts("3", accuracy=0.93, roc_auc=0.97)), now=T0)
    out = at_once({name: (lambda n=name: releases.approve(rctx, Actor(n, "ui"), view.id, stage="review",
                                                          now=T0))
                   for name in ("rita", "rob", "ruth")})
    refused = [n for n, r in out.items() if isinstance(r, Exception)]
    assert len(refused) == 1, out
    assert isinstance(out[refused[0]], Conflict) and "at stage 'signoff'" in str(out[refused[0]])
    final = releases.show_request(rctx, "root", view.id, now=T0)
    assert final.state == "open" and final.current_stage.name == "signoff"
    assert sorted(final.stages[0].approved_by) == sorted(n for n in out if n not in refused)
    assert [d.ordinal for d in final.decisions] == [1, 2]
    assert rctx.audit.verify().ok


def test_one_person_deciding_twice_at_once_is_recorded_once(rctx) -> None:  # type: ignore[no-untyped-def]
    view = releases.request_release(rctx, Actor("opal", "ui"), BC, "3",
                                    versions=FakeVersions(facts("3", accuracy=0.93, roc_auc=0.97)), now=T0)
    out = at_once({"ui": lambda: releases.approve(rctx, Actor("rita", "ui"), view.id, now=T0),
                   "cli": lambda: releases.approve(rctx, Actor("rita", "cli"), view.id, now=T0)})
    assert sum(isinstance(r, Exception) for r in out.values()) == 1, out
    assert decisions_of(rctx, view.id) == 1


def test_two_versions_requested_at_once_leave_one_open_request_for_the_newer(rctx) -> None:  # type: ignore[no-untyped-def]
    source = FakeVersions(facts("4", rmse=50.0), facts("5", rmse=50.0))
    def request(version: str):  # type: ignore[no-untyped-def]
        return lambda: releases.request_release(rctx, Actor("opal", "job"), DIA, version, versions=source,
                                                now=T0)

    out = at_once({v: request(v) for v in ("4", "5")})
    assert not isinstance(out["5"], Exception), out
    if isinstance(out["4"], Exception):  # 5 opened first: 4 is refused as older
        assert isinstance(out["4"], Conflict) and "newer version 5" in str(out["4"])
    views = releases.list_requests(rctx, "rita", model=DIA, now=T0)
    assert [(v.version, v.state) for v in views if v.state == "open"] == [("5", "open")]
    assert {v.state for v in views if v.version == "4"} <= {"superseded"}
