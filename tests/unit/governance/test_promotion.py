"""Promotion on final approval, rollback and outside alias moves, against a real MLflow registry
(SQLite-backed) on both databases: the aliases in MLflow, the deployment hook (a command and a
webhook on 127.0.0.1), the alias put back when the hook fails, the retry, the permission
refusals audited by the service, and the ``alias_moves`` history."""

from __future__ import annotations

import http.server
import json
import shlex
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.actor import Actor
from core.config import ModelsConfig
from core.context import AppContext
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance import promotion, releases
from governance.promotion import DeployHookFailed
from tests.unit.governance.release_fixtures import BC, create_accounts, two_stage_models

RM = "breast-cancer-mlp"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def A(name: str) -> Actor:  # noqa: N802
    return Actor(name, "ui", "198.51.100.7")


def with_hook(config: ModelsConfig, hook: dict | None) -> ModelsConfig:  # type: ignore[type-arg]
    raw = config.model_dump()
    for m in raw["models"]:
        if m["name"] == BC:
            m["deploy_hook"] = hook
    return ModelsConfig.model_validate(raw)


def make_versions(uri: str, root: Path, count: int, champion: str | None = "1") -> None:
    """``count`` versions of breast-cancer-mlp that pass the gates, by ml-engineer."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("bc", artifact_location=str(root / "artifacts"))
    client.create_registered_model(RM)
    for _ in range(count):
        run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
        client.log_metric(run.info.run_id, "accuracy", 0.93)
        client.log_metric(run.info.run_id, "roc_auc", 0.97)
        client.set_terminated(run.info.run_id)
        client.create_model_version(RM, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    if champion:
        client.set_registered_model_alias(RM, "champion", champion)


def aliases(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return promotion.registry_of(ctx).aliases(RM)


@pytest.fixture
def pctx(settings, models_config, tmp_path) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    context = AppContext.create(settings, models=two_stage_models(models_config))
    create_accounts(context)
    make_versions(settings.mlflow_tracking_uri, tmp_path, 4)
    yield context
    context.engine.dispose()


def entries(ctx, action: str) -> list:  # type: ignore[type-arg,no-untyped-def]
    return [e for e in ctx.audit.query() if e.action == action]


def approve_all(ctx, version: str = "2"):  # type: ignore[no-untyped-def]
    """Open a request for ``version`` and take it through review (rita, rob) and signoff (root)."""
    view = releases.request_release(ctx, A("opal"), BC, version, now=T0)
    releases.approve(ctx, A("rita"), view.id, now=T0)
    releases.approve(ctx, A("rob"), view.id, now=T0)
    return releases.approve(ctx, A("root"), view.id, comment="ship it", now=T0)


def recorder(tmp_path: Path, exit_code: int = 0) -> str:
    """A hook command that appends its environment's VIGIL_HOOK_* values to a file and exits."""
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as f:\n"
        "    f.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith('VIGIL_HOOK_')}) + '\\n')\n"
        "if int(sys.argv[1]):\n"
        "    print('deploy target refused the model', file=sys.stderr)\n"
        "sys.exit(int(sys.argv[1]))\n")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {exit_code}"


def calls(tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_final_approval_moves_champion_keeps_previous_and_calls_the_hook(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pctx.models = with_hook(pctx.models, {"command": recorder(tmp_path), "timeout_seconds": 30})
    view = releases.request_release(pctx, A("opal"), BC, "2", now=T0)
    releases.approve(pctx, A("rita"), view.id, now=T0)
    halfway = releases.approve(pctx, A("rob"), view.id, now=T0)
    assert halfway.state == "open" and aliases(pctx) == {"champion": "1"}  # not before the last stage
    assert calls(tmp_path) == []
    done = releases.approve(pctx, A("root"), view.id, now=T0)
    assert done.state == "promoted"
    assert "champion 1 -> 2" in done.closed_reason
    assert aliases(pctx) == {"champion": "2", "previous-champion": "1"}
    assert calls(tmp_path) == [{"VIGIL_HOOK_EVENT": "promotion", "VIGIL_HOOK_MODEL": BC,
                                "VIGIL_HOOK_REGISTERED_MODEL": RM, "VIGIL_HOOK_OLD_VERSION": "1",
                                "VIGIL_HOOK_NEW_VERSION": "2", "VIGIL_HOOK_ACTOR": "root",
                                "VIGIL_HOOK_REQUEST_ID": str(view.id)}]
    history = promotion.alias_history(pctx, "vic", BC)
    moves = [(m.alias, m.from_version, m.to_version, m.kind, m.actor, m.request_id) for m in history]
    # newest first: the two moves of the promotion, then the champion seen before any move was recorded
    assert moves == [("previous-champion", None, "1", "promotion", "root", view.id),
                     ("champion", "1", "2", "promotion", "root", view.id),
                     ("champion", None, "1", "external", "outside the console", None)]
    [promoted] = entries(pctx, "release.promote")
    assert (promoted.actor, promoted.outcome) == ("root", "success")
    assert (promoted.details["old_version"], promoted.details["new_version"]) == ("1", "2")
    # the decision's own entry still says what the decision did
    assert entries(pctx, "release.approve")[-1].details["state"] == "approved"
    assert releases.show_request(pctx, "vic", view.id, now=T0).state == "promoted"
    assert pctx.audit.verify().ok


def test_a_failing_hook_command_puts_the_alias_back_and_the_promotion_can_be_retried(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pctx.models = with_hook(pctx.models, {"command": recorder(tmp_path, exit_code=1)})
    done = approve_all(pctx)
    assert done.state == "promotion_failed"
    assert "exited 1: deploy target refused the model" in done.closed_reason
    assert aliases(pctx) == {"champion": "1"}  # put back: no previous-champion was there before
    assert len(calls(tmp_path)) == 1
    [hook] = entries(pctx, "release.deploy_hook")
    assert hook.outcome == "failed" and "exited 1" in hook.reason
    [restore] = entries(pctx, "release.alias_restore")
    assert restore.outcome == "success" and restore.details["restored"] == {"champion": "1",
                                                                            "previous-champion": None}
    assert [e.outcome for e in entries(pctx, "release.promote")] == ["failed"]
    kinds = [(m.alias, m.from_version, m.to_version, m.kind) for m in promotion.alias_history(pctx, None, BC)]
    assert kinds[:4] == [("champion", "2", "1", "restore"), ("previous-champion", "1", None, "restore"),
                         ("previous-champion", None, "1", "promotion"), ("champion", "1", "2", "promotion")]

    # a viewer and an operator may not retry; the service refuses and audits
    for who in ("vic", "opal"):
        with pytest.raises(PermissionDenied):
            promotion.retry_promotion(pctx, A(who), done.id, now=T0)
        assert entries(pctx, "release.approve")[-1].outcome == "denied"
    assert aliases(pctx) == {"champion": "1"}

    pctx.models = with_hook(pctx.models, {"command": recorder(tmp_path, exit_code=0)})  # the target is fixed
    again = promotion.retry_promotion(pctx, A("rita"), done.id, now=T0)
    assert again.state == "promoted"
    assert aliases(pctx) == {"champion": "2", "previous-champion": "1"}
    assert [c["VIGIL_HOOK_ACTOR"] for c in calls(tmp_path)] == ["root", "rita"]
    with pytest.raises(Conflict, match="only a failed promotion"):
        promotion.retry_promotion(pctx, A("rita"), done.id, now=T0)
    assert pctx.audit.verify().ok


class _Hook(http.server.BaseHTTPRequestHandler):
    status = 200
    bodies: list[dict] = []  # type: ignore[type-arg]

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"status": 200, "bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/deploy", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_answering_500_puts_the_alias_back_and_200_promotes(pctx, webhook) -> None:  # type: ignore[no-untyped-def]
    url, handler = webhook
    pctx.models = with_hook(pctx.models, {"url": url, "timeout_seconds": 5})
    handler.status = 500
    done = approve_all(pctx)
    assert done.state == "promotion_failed" and "answered HTTP 500" in done.closed_reason
    assert aliases(pctx) == {"champion": "1"}
    handler.status = 200
    again = promotion.retry_promotion(pctx, A("rob"), done.id, now=T0)
    assert again.state == "promoted" and aliases(pctx) == {"champion": "2", "previous-champion": "1"}
    assert handler.bodies[-1] == {"event": "promotion", "model": BC, "registered_model": RM,
                                  "old_version": "1", "new_version": "2", "actor": "rob",
                                  "request_id": done.id}
    assert len(handler.bodies) == 2


def test_promotion_fails_cleanly_when_the_version_is_gone_from_the_registry(pctx) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    view = releases.request_release(pctx, A("opal"), BC, "3", now=T0)
    releases.approve(pctx, A("rita"), view.id, now=T0)
    releases.approve(pctx, A("rob"), view.id, now=T0)
    uri = pctx.settings.mlflow_tracking_uri
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_model_version(RM, "3")
    done = releases.approve(pctx, A("root"), view.id, now=T0)
    assert done.state == "promotion_failed" and "no version 3" in done.closed_reason
    assert aliases(pctx) == {"champion": "1"}
    assert entries(pctx, "release.promote")[-1].outcome == "failed"


def test_rollback_goes_to_the_previous_champion_with_a_reason_and_is_audited(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pctx.models = with_hook(pctx.models, {"command": recorder(tmp_path)})
    approve_all(pctx, "2")
    # without permission: a viewer, a reviewer (release.approve is not model.rollback)
    for who in ("vic", "rita"):
        with pytest.raises(PermissionDenied):
            promotion.rollback(pctx, A(who), BC, reason="p99 spike")
        denied = entries(pctx, "model.rollback")[-1]
        assert (denied.actor, denied.outcome) == (who, "denied")
    with pytest.raises(InvalidInput, match="needs a reason"):
        promotion.rollback(pctx, A("opal"), BC, reason="  ")
    assert entries(pctx, "model.rollback")[-1].outcome == "failed"
    assert aliases(pctx) == {"champion": "2", "previous-champion": "1"}

    move = promotion.rollback(pctx, A("opal"), BC, reason="p99 spike", now=T0)
    assert (move.old_version, move.new_version) == ("2", "1")
    assert aliases(pctx) == {"champion": "1", "previous-champion": "2"}
    entry = entries(pctx, "model.rollback")[-1]
    assert (entry.actor, entry.outcome) == ("opal", "success")
    assert (entry.details["old_version"], entry.details["new_version"], entry.details["reason"]) == (
        "2", "1", "p99 spike")
    assert calls(tmp_path)[-1]["VIGIL_HOOK_EVENT"] == "rollback"
    assert calls(tmp_path)[-1]["VIGIL_HOOK_NEW_VERSION"] == "1"
    [latest, *_] = promotion.alias_history(pctx, "vic", BC)
    assert (latest.alias, latest.kind, latest.actor, latest.reason) == ("previous-champion", "rollback",
                                                                       "opal", "p99 spike")

    with pytest.raises(NotFound, match="no version 9"):
        promotion.rollback(pctx, A("opal"), BC, reason="x", to_version="9")
    with pytest.raises(Conflict, match="already the champion"):
        promotion.rollback(pctx, A("opal"), BC, reason="x", to_version="1")
    other = promotion.rollback(pctx, A("opal"), BC, reason="try 4", to_version="4")
    assert (other.old_version, other.new_version) == ("1", "4")
    assert aliases(pctx) == {"champion": "4", "previous-champion": "1"}
    assert pctx.audit.verify().ok


def test_rollback_with_a_failing_hook_puts_the_alias_back(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    approve_all(pctx, "2")
    pctx.models = with_hook(pctx.models, {"command": recorder(tmp_path, exit_code=3)})
    with pytest.raises(DeployHookFailed, match="exited 3.*the aliases were put back"):
        promotion.rollback(pctx, A("opal"), BC, reason="p99 spike")
    assert aliases(pctx) == {"champion": "2", "previous-champion": "1"}
    failed = entries(pctx, "model.rollback")[-1]
    assert failed.outcome == "failed" and (failed.details["old_version"], failed.details["new_version"]) == (
        "2", "1")
    assert entries(pctx, "release.alias_restore")[-1].details["restored"] == {"champion": "2",
                                                                             "previous-champion": "1"}


def test_rollback_without_a_previous_champion_is_refused(pctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict, match="no previous champion"):
        promotion.rollback(pctx, A("opal"), BC, reason="p99 spike")
    assert aliases(pctx) == {"champion": "1"}
    assert entries(pctx, "model.rollback")[-1].outcome == "failed"


def test_a_move_made_in_mlflow_directly_is_recorded_as_an_external_change(pctx) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    job = Actor("opal", "job")
    approve_all(pctx, "2")
    assert promotion.sync_aliases(pctx, job, model=BC) == []  # nothing moved since the promotion
    uri = pctx.settings.mlflow_tracking_uri
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(RM, "champion", "3")
    with pytest.raises(PermissionDenied):
        promotion.sync_aliases(pctx, A("vic"), model=BC)
    [seen] = promotion.sync_aliases(pctx, job, model=BC)
    assert (seen.from_version, seen.to_version, seen.kind) == ("2", "3", "external")
    [entry] = [e for e in entries(pctx, "alias.external_change") if e.details["to_version"] == "3"]
    assert (entry.actor, entry.outcome, entry.details["from_version"]) == ("opal", "success", "2")
    assert promotion.sync_aliases(pctx, job, model=BC) == []  # recorded once
    # a rollback after the outside move starts from what MLflow says, not from the console's record
    move = promotion.rollback(pctx, A("opal"), BC, reason="undo the manual move", to_version="2")
    assert (move.old_version, move.new_version) == ("3", "2")


def test_a_hook_past_its_timeout_fails_and_a_promotion_that_never_finished_can_be_retried(pctx) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from core.db import write_scope
    from governance.release_tables import ReleaseRequest

    sleeper = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'"
    pctx.models = with_hook(pctx.models, {"command": sleeper, "timeout_seconds": 0.5})
    done = approve_all(pctx)
    assert done.state == "promotion_failed" and "did not finish within 0.5 s" in done.closed_reason
    assert aliases(pctx) == {"champion": "1"}
    # a process that died between the final approval and the promotion leaves "approved" behind
    with write_scope(pctx.engine) as session:
        session.execute(update(ReleaseRequest).where(ReleaseRequest.id == done.id).values(state="approved"))
    pctx.models = with_hook(pctx.models, None)
    again = promotion.retry_promotion(pctx, A("rita"), done.id, now=T0)
    assert again.state == "promoted" and "no deployment hook configured" in again.closed_reason
    assert aliases(pctx) == {"champion": "2", "previous-champion": "1"}


@pytest.mark.parametrize(("hook", "message"), [
    ({"url": "https://deploy.example.org/h", "command": "true"}, "exactly one of 'url' or 'command'"),
    ({}, "exactly one of 'url' or 'command'"),
    ({"url": "ftp://deploy.example.org/h"}, "url"),
    ({"command": "true", "timeout_seconds": 0}, "timeout_seconds"),
])
def test_a_bad_deploy_hook_in_the_models_file_names_the_key(tmp_path, hook, message) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from core.config import load_models_config
    from core.errors import ConfigError

    repo = Path(__file__).resolve().parents[3]
    raw = yaml.safe_load((repo / "config" / "models.yaml").read_text())
    raw["models"][0]["deploy_hook"] = hook
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="models\\[0\\]\\.deploy_hook") as info:
        load_models_config(path)
    assert message in str(info.value)
