"""The Releases page: the champion, the version timeline and alias history, the Rollback and
Retrain buttons for those allowed (and the services' refusal of anyone else), a rollback through
its dialog moving the champion alias in a real MLflow registry, and the retrain jobs with their
state and log tail.

Each test that needs versions builds its own SQLite MLflow registry (other pages' tests expect
the installation's empty one) with breast-cancer-mlp versions 1-3, champion 3 and
previous-champion 2, and points the app at it through MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.actor import Actor
from core.errors import PermissionDenied
from tests.app.conftest import BY_ROLE, new_app, sign_in_as, texts
from tests.unit.governance.release_fixtures import FakeVersions, facts
from ui import state

MODEL, REGISTERED = "breast-cancer", "breast-cancer-mlp"
OPERATOR, VIEWER = BY_ROLE["operator"], BY_ROLE["viewer"]  # otto (operator on *), vera (viewer on *)
ACCURACY = {"1": 0.91, "2": 0.95, "3": 0.96}


def _record_move(ctx, **values) -> None:  # type: ignore[no-untyped-def]
    """An alias move row as the promotion service writes it (for a history from the past)."""
    from core.db import session_scope
    from governance.release_tables import AliasMove

    with session_scope(ctx.engine) as session:
        session.add(AliasMove(**values))


@pytest.fixture
def registry(vigil_env, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """A real MLflow registry (SQLite) of its own: versions 1-3 with metrics, champion 3,
    previous-champion 2; the app reads it through MLFLOW_TRACKING_URI."""
    from mlflow import MlflowClient

    from governance.registry import CHAMPION, ModelRegistry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(tmp_path / "artifacts"))
    client.create_registered_model(REGISTERED)
    for version in ("1", "2", "3"):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", ACCURACY[version])
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.create_model_version(REGISTERED, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    found = ModelRegistry(uri)
    found.set_alias(REGISTERED, CHAMPION, "3")
    found.set_alias(REGISTERED, "previous-champion", "2")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return found


def _releases_page(inst, username: str, model: str = MODEL):  # type: ignore[no-untyped-def]
    at = sign_in_as(new_app(), inst, username).run()
    at.switch_page("pages/releases.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Releases"]
    at.selectbox(key="releases.model").select(model).run()
    assert not at.exception, at.exception
    return at


def _keys(at) -> set[str]:  # type: ignore[no-untyped-def]
    return {b.key for b in at.button if b.key}


def _said(elements) -> list[str]:  # type: ignore[no-untyped-def]
    """Alert texts as a user reads them (markdown escapes removed)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _frame(at, column: str):  # type: ignore[no-untyped-def]
    [frame] = [df.value for df in at.dataframe if column in df.value.columns]
    return frame


def _finish_active_retrains(ctx) -> None:  # type: ignore[no-untyped-def]
    """Leave no queued or running retrain of the model behind (one per model at a time)."""
    from governance import retrain

    while (job := retrain.claim_next(ctx, "test-cleanup")) is not None:
        retrain.finish(ctx, job.id, "test-cleanup", succeeded=False, exit_code=None, error="test over",
                       log_tail="")


def test_a_viewer_sees_the_requests_and_the_alias_history_without_buttons(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance import releases

    ctx = vigil_env.ctx
    # breast-cancer (the Approvals tests use diabetes), closed at once so no open request lingers
    request = releases.request_release(ctx, Actor(OPERATOR, "cli"), MODEL, "301", reason="monthly retrain",
                                       versions=FakeVersions(facts("301", accuracy=0.8, roc_auc=0.9)))
    releases.reject(ctx, Actor(BY_ROLE["reviewer"], "cli"), request.id, comment="accuracy 0.8 under the gate")
    _record_move(ctx, model=MODEL, alias="champion", from_version="3", to_version="2", kind="rollback",
                 actor="otto", reason="p99 <b>spike</b>", request_id=None,
                 moved_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    at = _releases_page(vigil_env, VIEWER)
    requests = _frame(at, "outcome")
    row = requests[requests["request"] == request.id].iloc[0]
    assert (row["version"], row["state"], row["requested by"], row["outcome"], row["decisions"]) == \
        ("301", "rejected", "otto", "accuracy 0.8 under the gate", "rita rejected review")
    moves = _frame(at, "alias")
    [move] = moves[moves["at"] == "2026-11-20 09:30 UTC"][["alias", "from", "to", "what", "by", "why"]] \
        .to_dict("records")
    assert move == {"alias": "champion", "from": "3", "to": "2", "what": "rolled back", "by": "otto",
                    "why": "p99 <b>spike</b>"}
    assert _keys(at) == {"auth.sign_out"}  # no Rollback, no Retrain
    assert "Decide open requests on the Approvals page." in texts(at)
    assert "No retrain of this model has been asked for yet." in texts(at)


def test_an_auto_rollback_by_the_system_stands_apart_in_the_history_and_the_timeline(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    ctx = vigil_env.ctx
    at_ = datetime.now(UTC)
    _record_move(ctx, model=MODEL, alias="champion", from_version="2", to_version="3", kind="promotion",
                 actor="rita", reason="release request 9", request_id=None, moved_at=at_.replace(microsecond=1))
    _record_move(ctx, model=MODEL, alias="champion", from_version="3", to_version="2", kind="rollback",
                 actor="system", reason="p99 1450 ms > 800 ms in 3 consecutive checks", request_id=None,
                 moved_at=at_.replace(microsecond=2))
    at = _releases_page(vigil_env, VIEWER)
    moves = _frame(at, "alias").to_dict("records")
    assert [(m["what"], m["by"], m["to"]) for m in moves[:2]] == [("auto-rollback (system)", "system", "2"),
                                                                   ("promoted", "rita", "3")]
    [how] = [m.value for m in at.markdown if m.value.startswith("Last change ")]
    assert "**auto-rollback (system)** from version 3 to 2 by **system**: p99 1450 ms \\> 800 ms" in how
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    [auto] = [t for t in figure["data"] if t.get("name") == "auto-rollback (system)"]
    assert (auto["y"], auto["marker"]["symbol"]) == (["2"], "x")
    assert [t["y"] for t in figure["data"] if t.get("name") == "promoted"] == [["3"]]


def _promotion_with_checks(ctx, promoted_at: datetime, checks: list[dict]) -> int:  # type: ignore[no-untyped-def]
    """A promotion of version 3 (as the approval flow records it) and the watcher's stored checks,
    the model's only alias history (the installation is shared by this module's tests)."""
    from sqlalchemy import delete

    from core.db import session_scope
    from governance.auto_rollback_tables import AutoRollbackCheck
    from governance.release_tables import AliasMove

    with session_scope(ctx.engine) as session:
        session.execute(delete(AutoRollbackCheck).where(AutoRollbackCheck.model == MODEL))
        session.execute(delete(AliasMove).where(AliasMove.model == MODEL))
        move = AliasMove(model=MODEL, alias="champion", from_version="2", to_version="3", kind="promotion",
                         actor="rita", reason="release request 9", request_id=None, moved_at=promoted_at)
        session.add(move)
        session.flush()
        for i, check in enumerate(checks):
            session.add(AutoRollbackCheck(model=MODEL, version="3", promotion_id=move.id, source="logs",
                                          checked_at=promoted_at + timedelta(seconds=15 * (i + 1)), **check))
        return move.id


def test_a_champion_on_probation_shows_the_watchers_rule_state_and_checks(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    _promotion_with_checks(vigil_env.ctx, now - timedelta(minutes=10), [
        {"outcome": "pass", "requests": 480.0, "error_ratio": 0.01, "p99_ms": 120.0, "streak": 0,
         "detail": "p99 120 ms <= 400 ms over the last 60 s (480 requests)"},
        {"outcome": "breach", "requests": 500.0, "error_ratio": 0.01, "p99_ms": 950.0, "streak": 1,
         "detail": "p99 950 ms > 400 ms over the last 60 s (500 requests)"}])
    at = _releases_page(vigil_env, VIEWER)
    [watching] = [t for t in _said(at.info) if t.startswith("**Auto-rollback:**")]
    assert re.search(r"Version 3 is on probation for 1(09|10) more minutes; last check breach "
                     r"\(1/3 breaches in a row\)\.", watching), watching
    assert ("For 2 h after each promotion the champion is checked every 15 s over the last 60 s; 3 checks in a "
            "row with error ratio above 5.00% or p99 latency above 400 ms roll it back") in " ".join(_said(at.caption))
    checks = _frame(at, "breaches in a row").to_dict("records")
    assert [(c["outcome"], c["breaches in a row"], c["p99 (ms)"], c["error ratio"], c["requests"]) for c in checks] \
        == [("breach", 1, "950", "1.00%", "500"), ("pass", 0, "120", "1.00%", "480")]


def test_a_probation_the_watcher_ended_with_a_rollback_is_a_warning(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    breach = {"outcome": "breach", "requests": 500.0, "error_ratio": 0.2, "p99_ms": 1500.0,
              "detail": "error ratio 20.00 % > 5.00 %; p99 1500 ms > 400 ms over the last 60 s (500 requests)"}
    _promotion_with_checks(vigil_env.ctx, now - timedelta(minutes=5), [
        {**breach, "streak": 1}, {**breach, "streak": 2},
        {**breach, "streak": 3, "action": "rolled_back", "action_detail": "champion 3 -> 2"}])
    at = _releases_page(vigil_env, VIEWER)
    [rolled] = [t for t in _said(at.warning) if t.startswith("**Auto-rollback:**")]
    assert "Version 3 was rolled back automatically (champion 3 -> 2)." in rolled
    assert not [t for t in _said(at.info) if t.startswith("**Auto-rollback:**")]
    first = _frame(at, "breaches in a row").to_dict("records")[0]
    assert (first["breaches in a row"], first["action"]) == (3, "rolled_back champion 3 -> 2")


def test_a_model_without_auto_rollback_says_it_is_off(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    at = _releases_page(vigil_env, VIEWER, model="diabetes")
    assert "Auto-rollback: Auto-rollback is off for this model." in _said(at.caption)


def test_the_alias_history_is_refused_outside_the_viewers_scope(vigil_env) -> None:  # type: ignore[no-untyped-def]
    from governance.release_reads import alias_moves

    assert alias_moves(vigil_env.ctx, viewer="dora", model="diabetes") is not None  # her model
    with pytest.raises(PermissionDenied, match="dora may not view model 'breast-cancer'"):
        alias_moves(vigil_env.ctx, viewer="dora", model="breast-cancer")


@pytest.mark.parametrize(("role", "buttons"), [
    ("operator", {"releases.rollback", "releases.retrain"}),
    ("admin", {"releases.rollback", "releases.retrain"}),
    ("viewer", set()),
    ("reviewer", set()),
    ("auditor", set()),
])
def test_only_who_may_roll_back_or_retrain_sees_the_buttons(vigil_env, registry, role: str,
                                                            buttons: set[str]) -> None:  # type: ignore[no-untyped-def]
    at = _releases_page(vigil_env, BY_ROLE[role])
    assert "Champion of **breast-cancer-mlp**: version **3** (3 versions registered)" in \
        [m.value for m in at.markdown]
    assert {k for k in _keys(at) if k.startswith("releases.")} == buttons


@pytest.mark.parametrize("action", ["rollback", "retrain"])
def test_a_forged_click_by_a_viewer_is_refused_by_the_service_and_audited(vigil_env, registry,
                                                                          action: str) -> None:  # type: ignore[no-untyped-def]
    from governance import retrain

    at = _releases_page(vigil_env, VIEWER)
    at.session_state[state.RELEASES_PENDING] = (MODEL, action)  # a click the page never offered
    at.run()
    box = state.RELEASES_REASON if action == "rollback" else state.RELEASES_RETRAIN_REASON
    at.text_area(key=box).input("I just want to").run()
    at.button(key=f"releases.{action}.confirm").click().run()
    assert not at.exception, at.exception
    permission = f"model.{action}"
    assert _said(at.error) == [f"vera may not {permission} on breast-cancer"]
    assert registry.aliases(REGISTERED)["champion"] == "3"
    assert [j for j in retrain.list_retrains(vigil_env.ctx, viewer=VIEWER, model=MODEL) if j.state == "queued"] == []
    entry = vigil_env.ctx.audit.query(action=permission, actor=VIEWER)[-1]
    assert (entry.outcome, entry.resource) == ("denied", MODEL)


def test_a_rollback_needs_a_reason_then_moves_the_champion_back_and_records_why(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    at = _releases_page(vigil_env, OPERATOR)
    at.button(key="releases.rollback").click().run()
    target = at.selectbox(key=state.RELEASES_TARGET)
    assert target.value == "2"  # the previous champion
    assert target.options == [
        "version 2 (previous champion): accuracy 0.95, roc_auc 0.97; registered " + target.options[0].split(
            "registered ")[1],
        "version 1: accuracy 0.91, roc_auc 0.97; registered " + target.options[1].split("registered ")[1],
    ]
    at.button(key="releases.rollback.confirm").click().run()  # no reason
    assert not at.exception, at.exception
    assert _said(at.error) == ["a rollback needs a reason (say why the champion goes back)"]
    assert registry.aliases(REGISTERED)["champion"] == "3"
    refused = vigil_env.ctx.audit.query(action="model.rollback", actor=OPERATOR)[-1]
    assert refused.outcome == "failed"

    at.text_area(key=state.RELEASES_REASON).input("p99 <b>spike</b> after the promotion").run()
    at.button(key="releases.rollback.confirm").click().run()
    assert not at.exception, at.exception
    assert registry.aliases(REGISTERED) == {"champion": "2", "previous-champion": "3"}
    assert _said(at.success) == ["Rolled back breast-cancer: champion 3 → 2 "
                                 "(deployment hook: no deployment hook configured)."]
    assert "Champion of **breast-cancer-mlp**: version **2** (3 versions registered)" in \
        [m.value for m in at.markdown]  # at once, not after the versions cache expires
    [how] = [m.value for m in at.markdown if m.value.startswith("Last change ")]
    assert how.endswith(": **rolled back** from version 3 to 2 by **otto**: p99 \\<b\\>spike\\</b\\> after the "
                        "promotion")  # the reason escaped
    moves = _frame(at, "alias").to_dict("records")
    assert sorted((m["alias"], m["from"], m["to"], m["what"], m["by"], m["why"]) for m in moves[:2]) == [
        ("champion", "3", "2", "rolled back", OPERATOR, "p99 <b>spike</b> after the promotion"),
        ("previous-champion", "2", "3", "rolled back", OPERATOR, "p99 <b>spike</b> after the promotion"),
    ]
    entry = vigil_env.ctx.audit.query(action="model.rollback", actor=OPERATOR)[-1]
    assert (entry.outcome, entry.details["old_version"], entry.details["new_version"], entry.details["reason"]) == \
        ("success", "3", "2", "p99 <b>spike</b> after the promotion")
    # the timeline marks the rollback, with the reason escaped for Plotly's HTML-like labels
    [chart] = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    [marker] = [t for t in figure["data"] if t.get("name") == "rolled back"]
    assert marker["y"][-1] == "2"
    assert "p99 &lt;b&gt;spike&lt;/b&gt; after the promotion" in [c[2] for c in marker["customdata"]]
    assert "<b>spike" not in chart.proto.spec


def test_a_rollback_to_another_version_then_the_champion_is_no_target(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    at = _releases_page(vigil_env, OPERATOR)
    at.button(key="releases.rollback").click().run()
    at.selectbox(key=state.RELEASES_TARGET).select("1").run()
    at.text_area(key=state.RELEASES_REASON).input("version 2 has the same bug").run()
    at.button(key="releases.rollback.confirm").click().run()
    assert not at.exception, at.exception
    assert registry.aliases(REGISTERED) == {"champion": "1", "previous-champion": "3"}
    assert _said(at.success)[0].startswith("Rolled back breast-cancer: champion 3 → 1")

    # the champion is never offered as a target; the one it replaced is the default now
    at.button(key="releases.rollback").click().run()
    target = at.selectbox(key=state.RELEASES_TARGET)
    assert [o.split(":")[0] for o in target.options] == ["version 3 (previous champion)", "version 2"]
    assert target.value == "3"
    at.button(key="releases.rollback.cancel").click().run()
    assert not at.exception, at.exception
    assert registry.aliases(REGISTERED) == {"champion": "1", "previous-champion": "3"}  # cancelled


def test_a_retrain_through_the_page_shows_its_state_and_log_as_the_worker_goes(vigil_env, registry) -> None:  # type: ignore[no-untyped-def]
    from governance import retrain

    ctx = vigil_env.ctx
    _finish_active_retrains(ctx)
    at = _releases_page(vigil_env, OPERATOR)
    at.button(key="releases.retrain").click().run()
    assert "python -m jobs.demo --retrain breast-cancer" in texts(at)  # the configured command
    at.text_area(key=state.RELEASES_RETRAIN_REASON).input("drift in <i>three</i> runs").run()
    at.button(key="releases.retrain.confirm").click().run()
    assert not at.exception, at.exception
    [job] = [j for j in retrain.list_retrains(ctx, viewer=OPERATOR, model=MODEL) if j.state == "queued"]
    assert _said(at.success) == [f"Retrain {job.id} of breast-cancer queued; a worker runs it and its state "
                                 "shows under Retrain jobs."]
    rows = _frame(at, "exit code")
    first = rows.iloc[0].to_dict()
    assert (first["job"], first["state"], first["requested by"], first["trigger"], first["reason"]) == \
        (job.id, "queued", OPERATOR, "manual", "drift in <i>three</i> runs")
    assert f"Retrain **{job.id}** is **queued** since" in " ".join(i.value for i in at.info)

    # a second retrain while one is queued: the service refuses, the dialog says why
    at.button(key="releases.retrain").click().run()
    at.button(key="releases.retrain.confirm").click().run()
    assert _said(at.error) == [f"retrain {job.id} of breast-cancer is queued; a second one cannot be queued "
                               "until it finishes"]

    try:  # a worker (named with markup) takes it and reports progress
        worker = "host-<b>1</b>"
        assert retrain.claim_next(ctx, worker).id == job.id
        retrain.heartbeat(ctx, job.id, worker, log_tail="epoch 1 loss 0.41\n<script>x</script>")
        at = _releases_page(vigil_env, OPERATOR)
        running = [i.value for i in at.info if "is **running**" in i.value]
        assert running and "host-\\<b\\>1\\</b\\>" in running[0]  # escaped
        assert _frame(at, "exit code").iloc[0]["state"] == "running"
        assert at.selectbox(key=state.RELEASES_LOG_JOB).value == job.id
        assert [c.value for c in at.code] == ["epoch 1 loss 0.41\n<script>x</script>"]

        retrain.finish(ctx, job.id, worker, succeeded=True, exit_code=0, error=None,
                       log_tail="epoch 2 loss 0.2\nVIGIL_VERSION=4", produced_version="4",
                       release_error="version 4 is not in the registry")
    finally:
        _finish_active_retrains(ctx)
    at = _releases_page(vigil_env, OPERATOR)
    done = _frame(at, "exit code").iloc[0].to_dict()
    assert (done["state"], done["exit code"], done["version"], done["release request"]) == \
        ("succeeded", "0", "4", "not opened: version 4 is not in the registry")
    assert not [i for i in at.info if "is **running**" in i.value]
    [said] = _said(at.success)
    assert re.fullmatch(rf"Retrain {job.id} succeeded at .* UTC; it registered version 4, but no release request "
                        r"could be opened: version 4 is not in the registry\.", said.replace("**", ""))
    assert [c.value for c in at.code] == ["epoch 2 loss 0.2\nVIGIL_VERSION=4"]


def test_mlflow_down_shows_degraded_and_the_rest_of_the_page(vigil_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    at = _releases_page(vigil_env, OPERATOR)
    assert any(w.value.startswith("MLflow is degraded: ") for w in at.warning)
    assert "releases.rollback" not in _keys(at)  # no champion known: nothing to roll back
    assert "No champion to roll back." in texts(at)
    assert "Retrain jobs" in texts(at) and "Release requests" in texts(at)
