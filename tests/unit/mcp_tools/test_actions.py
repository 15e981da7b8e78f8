"""The governed MCP actions call the services the console's buttons call, as the calling user via
mcp: against a real MLflow registry (SQLite) on both databases, a viewer's rollback is refused and
audited by the service with source mcp, an unconfirmed rollback changes and audits nothing, an
operator's confirmed rollback moves the alias and is audited via mcp, a retrain is queued, and a
release request is opened and decided (four eyes kept by the service)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.context import AppContext
from core.errors import PermissionDenied
from governance import promotion, retrain
from mcp_server import actions, read_tools
from tests.unit.governance.release_fixtures import BC, create_accounts, two_stage_models
from tests.unit.governance.test_promotion import RM, make_versions
from tests.unit.mcp_tools.data import CLIENT, call_as


@pytest.fixture
def pctx(settings, models_config, tmp_path) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    context = AppContext.create(settings, models=two_stage_models(models_config))
    create_accounts(context)
    make_versions(settings.mlflow_tracking_uri, tmp_path, 4, champion="3")
    yield context
    context.engine.dispose()


def aliases(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return promotion.registry_of(ctx).aliases(RM)


def last(ctx, action: str):  # type: ignore[no-untyped-def]
    return [e for e in ctx.audit.query() if e.action == action][-1]


def test_a_viewers_rollback_is_refused_and_audited_by_the_service_via_mcp(pctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        actions.request_rollback(call_as(pctx, "vic"), BC, "latency incident", confirmed=True)
    entry = last(pctx, "model.rollback")
    assert (entry.actor, entry.outcome, entry.source, entry.client_addr) == ("vic", "denied", "mcp", CLIENT)
    assert aliases(pctx)["champion"] == "3"


def test_an_unconfirmed_rollback_changes_nothing_and_says_where_to_confirm(pctx) -> None:  # type: ignore[no-untyped-def]
    before = pctx.audit.count()
    out = actions.request_rollback(call_as(pctx, "opal"), BC, "latency incident")
    assert out.done is False and "Releases page" in out.message
    assert pctx.audit.count() == before and aliases(pctx)["champion"] == "3"


def test_a_viewers_unconfirmed_rollback_is_still_refused_and_audited(pctx) -> None:  # type: ignore[no-untyped-def]
    # a client that cannot ask the person (no elicitation) must not hide a refusal from the audit log
    with pytest.raises(PermissionDenied, match="vic may not"):
        actions.request_rollback(call_as(pctx, "vic"), BC, "latency incident")
    entry = last(pctx, "model.rollback")
    assert (entry.actor, entry.outcome, entry.source, entry.client_addr) == ("vic", "denied", "mcp", CLIENT)
    assert aliases(pctx)["champion"] == "3"


def test_an_operators_confirmed_rollback_moves_the_alias_and_is_audited_via_mcp(pctx) -> None:  # type: ignore[no-untyped-def]
    out = actions.request_rollback(call_as(pctx, "opal"), BC, "p95 latency 900 ms since 12:00",
                                   to_version="2", confirmed=True)
    assert out.done and out.details["old_version"] == "3" and out.details["new_version"] == "2"
    assert aliases(pctx)["champion"] == "2"
    entry = last(pctx, "model.rollback")
    assert (entry.actor, entry.outcome, entry.source, entry.client_addr) == ("opal", "success", "mcp", CLIENT)
    assert entry.details["reason"] == "p95 latency 900 ms since 12:00"
    history = read_tools.releases(call_as(pctx, "vic"), BC)
    assert history.champion_version == "2"
    assert ("champion", "rollback", "3", "2", "opal") in [
        (m.alias, m.kind, m.from_version, m.to_version, m.actor) for m in history.alias_history]


def test_a_retrain_is_queued_for_the_worker_and_a_viewer_is_refused(pctx) -> None:  # type: ignore[no-untyped-def]
    out = actions.request_retrain(call_as(pctx, "opal"), BC, "drift on mean_radius")
    queued = retrain.list_retrains(pctx, "opal", BC)
    assert out.details["retrain_job"] == queued[0].id and queued[0].state == "queued"
    assert queued[0].requested_by == "opal"
    entry = last(pctx, "model.retrain")
    assert (entry.outcome, entry.source) == ("success", "mcp")
    with pytest.raises(PermissionDenied):
        actions.request_retrain(call_as(pctx, "vic"), BC, "please")
    assert last(pctx, "model.retrain").outcome == "denied"


def test_a_release_request_is_opened_then_decided_with_four_eyes(pctx) -> None:  # type: ignore[no-untyped-def]
    opened = actions.open_release_request(call_as(pctx, "rex"), BC, "4", "quarterly retrain")
    request_id = opened.details["id"]
    assert opened.done and opened.details["state"] == "open" and opened.details["current_stage"] == "review"
    assert last(pctx, "release.request").source == "mcp"
    # rex requested it: four eyes (the service's rule) refuses his decision
    with pytest.raises(PermissionDenied):
        actions.decide_release(call_as(pctx, "rex"), request_id, "approve", "", confirmed=True)
    seen = read_tools.releases(call_as(pctx, "rita"), BC)
    assert seen.awaiting_your_decision == [request_id] and seen.requests[0].you_may_decide
    assert read_tools.releases(call_as(pctx, "vic"), BC).awaiting_your_decision == []
    everywhere = read_tools.releases(call_as(pctx, "rita"))  # all her models: what awaits her
    assert everywhere.awaiting_your_decision == [request_id] and everywhere.alias_history == []
    before = pctx.audit.count()
    unconfirmed = actions.decide_release(call_as(pctx, "rita"), request_id, "approve", "metrics fine")
    assert unconfirmed.done is False and "Approvals page" in unconfirmed.message
    assert pctx.audit.count() == before  # nothing decided, nothing audited
    approved = actions.decide_release(call_as(pctx, "rita"), request_id, "approve", "metrics fine",
                                      confirmed=True)
    assert approved.details["state"] == "open" and approved.details["decisions"][0].startswith("rita approved")
    rejected = actions.decide_release(call_as(pctx, "rob"), request_id, "reject", "wait for the incident review",
                                      confirmed=True)
    assert rejected.details["state"] == "rejected" and aliases(pctx)["champion"] == "3"
    entry = last(pctx, "release.reject")
    assert (entry.actor, entry.source, entry.client_addr) == ("rob", "mcp", CLIENT)


def test_action_descriptions_say_what_they_change() -> None:
    from mcp_server.registry import load

    tools = {t.name: t for t in load().tools}
    assert tools["request_rollback"].changes and tools["request_rollback"].confirm
    assert tools["decide_release"].changes and tools["decide_release"].confirm
    assert tools["request_retrain"].changes and not tools["request_retrain"].confirm
    assert "nothing is promoted" in tools["open_release_request"].description
