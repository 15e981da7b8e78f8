"""The Approvals page: who sees which request and button, and what a decision through the dialog
does to the request and the audit log (the service's refusals shown as the page's message).

Requests are opened through governance.releases with an in-memory version source standing in for
MLflow (the page reads the gate results the request stored, never MLflow). Each test opens a
request for a newer diabetes version (one ``review`` stage of one reviewer in the shipped models
file), which supersedes the previous test's open request.
"""

from __future__ import annotations

import itertools
import re

import pytest

from core.actor import Actor
from tests.app.conftest import BY_ROLE, new_app, sign_in_as, texts
from tests.unit.governance.release_fixtures import FakeVersions, facts
from ui import state

MODEL = "diabetes"
_versions = itertools.count(101)
REVIEWER = BY_ROLE["reviewer"]  # rita, reviewer on *
OPERATOR = BY_ROLE["operator"]  # otto, who requests


def _open_request(inst, *, author: str = "ml-engineer", rmse: float = 50.0):  # type: ignore[no-untyped-def]
    from governance import releases

    version = str(next(_versions))
    return releases.request_release(inst.ctx, Actor(OPERATOR, "cli"), MODEL, version, reason="weekly retrain",
                                    versions=FakeVersions(facts(version, author=author, rmse=rmse)))


def _approvals_page(inst, username: str):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), inst, username).run()
    at.switch_page("pages/approvals.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Approvals"]
    return at


def _keys(at) -> set[str]:  # type: ignore[no-untyped-def]
    return {b.key for b in at.button if b.key}


def _said(elements, attribute: str = "value") -> list[str]:  # type: ignore[no-untyped-def]
    """The texts of alerts (or expander labels) as a user reads them (markdown escapes removed)."""
    return [re.sub(r"\\(.)", r"\1", getattr(e, attribute)) for e in elements]


def _frame(at, column: str):  # type: ignore[no-untyped-def]
    """The one table on the page with ``column`` (each test leaves one request in view)."""
    [frame] = [df.value for df in at.dataframe if column in df.value.columns]
    return frame


def test_a_reviewer_sees_the_request_with_its_evidence_and_approves_it(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import releases

    request = _open_request(vigil_env)
    at = _approvals_page(vigil_env, REVIEWER)
    shown = texts(at)
    assert f"#{request.id} diabetes version {request.version}: open" in shown
    assert "Requested by **otto**" in shown and "weekly retrain" in shown
    assert f"approvals.mine.{request.id}.approve" in _keys(at)
    gates = _frame(at, "gate")
    [row] = gates.to_dict("records")
    assert (row["gate"], row["value"], row["threshold"], row["result"], row["mode"]) == \
        ("max_rmse", "50", "<= 65", "pass", "blocking")
    assert row["source"] == f"mlflow run run{request.version} metric rmse"
    stages = _frame(at, "stage").to_dict("records")
    assert [(s["stage"], s["decided by"], s["approvals"], s["status"]) for s in stages] == \
        [("review", "reviewer", "0/1", "waiting for a decision")]

    at.button(key=f"approvals.mine.{request.id}.approve").click().run()
    assert f"Approve stage **review** of release request **#{request.id}**" in texts(at)  # the dialog
    assert releases.show_request(vigil_env.ctx, None, request.id).state == "open"  # nothing yet
    at.text_area(key=state.APPROVALS_COMMENT).input("RMSE well under the gate").run()
    at.button(key="approvals.confirm").click().run()
    assert not at.exception, at.exception
    # the final approval promotes; this world's registry has no such MLflow version, so the
    # promotion fails, the aliases stay put, and the page says so instead of "approved"
    after = releases.show_request(vigil_env.ctx, None, request.id)
    assert after.state == "promotion_failed"
    assert _said(at.success) == []
    [said] = _said(at.error)
    assert said.startswith(f"Approved release request #{request.id} (diabetes version {request.version}), "
                           "but the promotion failed: ")
    assert said.endswith("The aliases were put back; it can be retried.")
    assert [(d.approver, d.decision, d.comment) for d in after.decisions] == \
        [(REVIEWER, "approve", "RMSE well under the gate")]
    entry = vigil_env.ctx.audit.query(action="release.approve", actor=REVIEWER)[-1]
    assert (entry.outcome, entry.details["request_id"]) == ("success", request.id)
    assert f"approvals.mine.{request.id}.approve" not in _keys(at)  # decided: gone from the queue


def test_the_versions_author_gets_no_button_and_the_service_refuses_a_forced_dialog(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import releases

    request = _open_request(vigil_env, author=REVIEWER)
    at = _approvals_page(vigil_env, REVIEWER)
    assert not {k for k in _keys(at) if k.startswith(f"approvals.all.{request.id}.")}
    assert not {k for k in _keys(at) if k.startswith(f"approvals.mine.{request.id}.")}
    reason = f"rita is the author of diabetes version {request.version} and may not decide its release (four eyes)"
    assert f"You cannot decide this request: {reason}" in texts(at)

    # a click the page never offered (a stale or forged session) still meets the service's rule
    at.session_state[state.APPROVALS_PENDING] = (request.id, "approve")
    at.run()
    at.button(key="approvals.confirm").click().run()
    assert not at.exception, at.exception
    assert _said(at.error) == [reason]
    assert releases.show_request(vigil_env.ctx, None, request.id).decisions == ()
    entry = vigil_env.ctx.audit.query(action="release.approve", actor=REVIEWER)[-1]
    assert (entry.outcome, entry.reason) == ("denied", reason)


def test_the_requester_who_also_reviews_is_told_four_eyes(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import rbac

    admin = Actor("alice", "cli")
    if not rbac.can(vigil_env.ctx, OPERATOR, "release.approve", MODEL):
        rbac.grant(vigil_env.ctx, admin, OPERATOR, "reviewer", MODEL, reason="covers reviews this week")
    request = _open_request(vigil_env)  # requested by otto
    at = _approvals_page(vigil_env, OPERATOR)
    assert not {k for k in _keys(at) if k.endswith(f"{request.id}.approve") or k.endswith(f"{request.id}.reject")}
    assert (f"You cannot decide this request: otto requested release {request.id} and may not decide it "
            "(four eyes)") in texts(at)


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_who_may_not_decide_sees_the_requests_but_no_button(vigil_env, role: str) -> None:  # type: ignore[no-untyped-def]
    request = _open_request(vigil_env)
    at = _approvals_page(vigil_env, BY_ROLE[role])
    shown = texts(at)
    assert "Waiting for your decision (0)" in shown
    assert "You hold no role that approves releases" in shown
    assert f"#{request.id} diabetes version {request.version}: open" in _said(at.expander, "label")
    assert not {k for k in _keys(at) if k.startswith("approvals.")}
    assert "You cannot decide" not in shown  # no talk of decisions to one who never decides
    assert _frame(at, "gate")["result"].tolist() == ["pass"]


def test_reject_needs_a_comment_and_then_closes_the_request_with_it(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import releases

    request = _open_request(vigil_env)
    at = _approvals_page(vigil_env, REVIEWER)
    at.button(key=f"approvals.mine.{request.id}.reject").click().run()
    at.text_area(key=state.APPROVALS_COMMENT).input("second thoughts").run()
    at.button(key="approvals.cancel").click().run()  # cancelled: nothing happens, the comment is dropped
    assert not at.exception, at.exception
    assert "say why (required)" not in texts(at) and not at.error and not at.success
    assert releases.show_request(vigil_env.ctx, None, request.id).decisions == ()

    at.button(key=f"approvals.mine.{request.id}.reject").click().run()
    assert "say why (required)" in texts(at)
    assert at.text_area(key=state.APPROVALS_COMMENT).value == ""
    at.button(key="approvals.confirm").click().run()  # no comment
    assert not at.exception, at.exception
    assert _said(at.error) == ["a rejection needs a comment saying why"]
    assert releases.show_request(vigil_env.ctx, None, request.id).state == "open"
    refused = vigil_env.ctx.audit.query(action="release.reject", actor=REVIEWER)[-1]
    assert (refused.outcome, refused.details["request_id"]) == ("failed", request.id)

    at.button(key=f"approvals.mine.{request.id}.reject").click().run()
    at.text_area(key=state.APPROVALS_COMMENT).input("trained on the <b>wrong</b> month").run()
    at.button(key="approvals.confirm").click().run()
    after = releases.show_request(vigil_env.ctx, None, request.id)
    assert (after.state, after.closed_reason) == ("rejected", "trained on the <b>wrong</b> month")
    at.multiselect(key=state.APPROVALS_STATE).select("rejected").run()
    histories = [df.value.to_dict("records") for df in at.dataframe if "decision" in df.value.columns]
    assert [(REVIEWER, "rejected", "trained on the <b>wrong</b> month")] in \
        [[(h["by"], h["decision"], h["comment"]) for h in history] for history in histories]
    closing = [m.value for m in at.markdown if str(m.value).startswith("**Rejected** on")]
    assert any(line.endswith(": trained on the \\<b\\>wrong\\</b\\> month") for line in closing)  # escaped


def test_the_request_shows_its_metrics_beside_the_champions_from_mlflow(vigil_env, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from governance import releases
    from governance.registry import CHAMPION, ModelRegistry
    from governance.release_gates import MlflowVersions

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a registry of its own: other pages' tests expect an empty one
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("breast-cancer-mlp")
    for accuracy in (0.93, 0.95):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", accuracy)
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.create_model_version("breast-cancer-mlp", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    registry = ModelRegistry(uri)
    registry.set_alias("breast-cancer-mlp", CHAMPION, "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    request = releases.request_release(vigil_env.ctx, Actor(OPERATOR, "cli"), "breast-cancer", "2",
                                       versions=MlflowVersions(registry))
    try:
        at = _approvals_page(vigil_env, REVIEWER)
        [compared] = [df.value for df in at.dataframe if "metric" in df.value.columns]
        assert compared.to_dict("records") == [
            {"metric": "accuracy", "champion (version 1)": "0.93", "version 2": "0.95", "difference": "+0.02"},
            {"metric": "roc_auc", "champion (version 1)": "0.97", "version 2": "0.97", "difference": "+0"},
        ]
        # the champion moves (recorded as the release cycle records a move made in MLflow): the
        # next look shows it at once, not the 30 s cached answer
        registry.set_alias("breast-cancer-mlp", CHAMPION, "2")
        from datetime import UTC, datetime

        from core.db import session_scope
        from governance.release_tables import AliasMove

        with session_scope(vigil_env.ctx.engine) as session:
            session.add(AliasMove(model="breast-cancer", alias=CHAMPION, from_version="1", to_version="2",
                                  kind="external", actor="system", reason="moved in MLflow", request_id=None,
                                  moved_at=datetime.now(UTC)))
        at.run()
        assert not at.exception, at.exception
        assert "Version 2 is the champion now." in texts(at)
        assert not [df for df in at.dataframe if "metric" in df.value.columns]
    finally:  # leave no open breast-cancer request for the other tests
        releases.reject(vigil_env.ctx, Actor(REVIEWER, "cli"), request.id, comment="test over")


def test_the_request_compares_champion_and_challenger_by_window_where_both_served(  # type: ignore[no-untyped-def]
        vigil_env, monkeypatch, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from mlflow import MlflowClient

    from governance import releases
    from governance.registry import CHAMPION, ModelRegistry
    from governance.release_evidence import compare_by_window
    from governance.release_gates import MlflowVersions
    from tests.unit.governance.evidence_fixtures import requests, write_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a registry and a log store of this test's own
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model("breast-cancer-mlp")
    for _ in range(2):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "accuracy", 0.95)
        client.create_model_version("breast-cancer-mlp", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    registry = ModelRegistry(uri)
    registry.set_alias("breast-cancer-mlp", CHAMPION, "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("VIGIL_LOGSTORE_URL", str(tmp_path / "logstore"))
    store = SimpleNamespace(settings=SimpleNamespace(logstore_url=str(tmp_path / "logstore"), logstore_dir=None),
                            models=vigil_env.ctx.models)
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    write_store(store, "breast-cancer", requests("1", start, 180, seed=1, classes=True, latency=(20.0, 0.2)), "v1")
    write_store(store, "breast-cancer", requests("2", start + timedelta(hours=1), 60, seed=2, classes=True,
                                                 latency=(60.0, 0.2), error_rate=0.1), "v2")
    request = releases.request_release(vigil_env.ctx, Actor(OPERATOR, "cli"), "breast-cancer", "2",
                                       versions=MlflowVersions(registry))
    try:
        at = _approvals_page(vigil_env, REVIEWER)
        assert "Champion and this version by window" in texts(at)
        [table] = [df.value for df in at.dataframe if "window (UTC)" in df.value.columns]
        served = compare_by_window(store, "breast-cancer", "2", viewer=None, champion="1")  # the service's figures
        assert served.window == "1h" and len(served.windows) == 1  # the one hour both versions served
        assert table.to_dict("records") == [
            {"window (UTC)": f"{p.window_start:%Y-%m-%d %H:%M}", "version": f"{p.version} ({p.role})",
             "requests": p.requests, "error ratio": f"{p.error_ratio:.2%}", "latency p95 (ms)": f"{p.p95_ms:.4g}",
             "accuracy": f"{p.performance:.4g}", "labelled": p.labelled} for p in served.points]
        assert [r["version"] for r in table.to_dict("records")] == ["1 (champion)", "2 (challenger)"]
        assert [r["requests"] for r in table.to_dict("records")] == [60, 60]
        [chart] = at.get("plotly_chart")
        names = {t["name"] for t in __import__("json").loads(chart.proto.spec)["data"]}
        assert names == {"version 1 (champion)", "version 2 (challenger)"}
    finally:  # leave no open breast-cancer request for the other tests
        releases.reject(vigil_env.ctx, Actor(REVIEWER, "cli"), request.id, comment="test over")
