"""New versions in the MLflow registry open release requests (governance.release_poll), against a
real MLflow registry (SQLite-backed) on both databases: one request per new version, never a
second one for a version that had a request (a rejected version is not asked again), a newer
version supersedes the open request, concurrent pollers open exactly one, models without
versions are skipped, a poller without the grant is refused and audited, MLflow down is
ServiceUnavailable (exit 5 in the job)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.actor import Actor
from core.context import AppContext
from core.errors import PermissionDenied, ServiceUnavailable
from governance import releases
from governance.registry import ModelRegistry
from governance.release_poll import POLL_REASON, poll_model
from tests.unit.governance.release_fixtures import BC, DIA, create_accounts

RM = "breast-cancer-mlp"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OPAL = Actor("opal", "job")  # operator of both models: holds release.request, like the job account


class Registry:
    """Registers passing versions of breast-cancer-mlp in a real (SQLite) MLflow registry."""

    def __init__(self, uri: str, root: Path):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.experiment = self.client.create_experiment("bc", artifact_location=str(root / "artifacts"))
        self.client.create_registered_model(RM)

    def add(self, count: int = 1) -> None:
        for _ in range(count):
            run = self.client.create_run(self.experiment, tags={"mlflow.user": "ml-engineer"})
            self.client.log_metric(run.info.run_id, "accuracy", 0.93)
            self.client.log_metric(run.info.run_id, "roc_auc", 0.97)
            self.client.set_terminated(run.info.run_id)
            self.client.create_model_version(RM, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)

    def champion(self, version: str) -> None:
        self.client.set_registered_model_alias(RM, "champion", version)


@pytest.fixture
def pctx(ctx) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    create_accounts(ctx)
    yield ctx


@pytest.fixture
def registry(pctx, tmp_path) -> Registry:  # type: ignore[no-untyped-def]
    return Registry(pctx.settings.mlflow_tracking_uri, tmp_path)


def requests(ctx) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(version, stored state, requested_by) of every breast-cancer request, oldest first."""
    return [(v.version, v.stored_state, v.requested_by)
            for v in reversed(releases.list_requests(ctx, "opal", model=BC))]


def test_a_new_version_opens_one_request_and_a_second_poll_opens_none(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(3)
    registry.champion("1")
    first = poll_model(pctx, OPAL, BC, now=T0)
    assert first.opened is not None and (first.champion, first.newest) == ("1", "3")
    assert "version 3 is newer than the champion, version 1" in first.line()
    view = releases.show_request(pctx, "opal", first.opened)
    assert (view.version, view.state, view.reason) == ("3", "open", POLL_REASON)
    gates = {g.name: g.status for g in view.gates}
    assert (gates["min_accuracy"], gates["min_roc_auc"]) == ("pass", "pass")  # the run's logged metrics
    # this test writes no inference logs: the log-based gates show it, never a pass
    assert {gates[n] for n in ("min_completeness_pct", "max_drift_share", "max_psi", "max_latency_p95_ms")} \
        == {"no evidence"}
    again = poll_model(pctx, OPAL, BC, now=T0 + timedelta(minutes=5))
    assert again.opened is None and f"already had release request {first.opened} (open)" in again.line()
    assert requests(pctx) == [("3", "open", "opal")]  # versions 2 and 3 arrived together: only the newest
    entries = [e for e in pctx.audit.query() if e.action == "release.request"]
    assert [(e.actor, e.outcome, e.details["version"]) for e in entries] == [("opal", "success", "3")]


def test_a_rejected_version_is_not_requested_again_but_the_next_one_is(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(2)
    registry.champion("1")
    opened = poll_model(pctx, OPAL, BC, now=T0).opened
    assert opened is not None
    releases.reject(pctx, Actor("rita", "ui"), opened, comment="ROC AUC is not enough", now=T0)
    after = poll_model(pctx, OPAL, BC, now=T0 + timedelta(minutes=5))
    assert after.opened is None and f"already had release request {opened} (rejected)" in after.line()
    assert requests(pctx) == [("2", "rejected", "opal")]
    registry.add()  # version 3
    newer = poll_model(pctx, OPAL, BC, now=T0 + timedelta(minutes=10))
    assert newer.opened is not None and newer.newest == "3"
    assert requests(pctx) == [("2", "rejected", "opal"), ("3", "open", "opal")]


def test_an_expired_request_is_not_reopened_by_the_poll(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(2)
    registry.champion("1")
    opened = poll_model(pctx, OPAL, BC, now=T0).opened
    assert releases.expire_due(pctx, OPAL, now=T0 + timedelta(days=15)) == [opened]
    later = poll_model(pctx, OPAL, BC, now=T0 + timedelta(days=15, minutes=5))
    assert later.opened is None and "(expired)" in later.line()
    assert requests(pctx) == [("2", "expired", "opal")]


def test_a_newer_version_supersedes_the_open_request(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(2)
    registry.champion("1")
    first = poll_model(pctx, OPAL, BC, now=T0).opened
    registry.add()
    second = poll_model(pctx, OPAL, BC, now=T0 + timedelta(minutes=5)).opened
    assert second is not None and second != first
    assert requests(pctx) == [("2", "superseded", "opal"), ("3", "open", "opal")]


def test_nothing_is_requested_when_the_champion_is_the_newest(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(2)
    registry.champion("2")
    outcome = poll_model(pctx, OPAL, BC, now=T0)
    assert outcome.opened is None and "champion is version 2, the newest" in outcome.line()
    assert requests(pctx) == []


def test_without_a_champion_the_newest_version_is_requested(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(1)
    outcome = poll_model(pctx, OPAL, BC, now=T0)
    assert outcome.opened is not None and outcome.champion is None and "no champion yet" in outcome.line()


def test_models_without_versions_are_skipped(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    empty = poll_model(pctx, OPAL, BC, now=T0)  # registered, no version yet
    assert empty.registered and empty.opened is None and "no versions registered" in empty.line()
    missing = poll_model(pctx, OPAL, DIA, now=T0)  # diabetes-gbr is not in this registry at all
    assert not missing.registered and "'diabetes-gbr' is not in MLflow yet" in missing.line()
    assert releases.list_requests(pctx, "opal") == []


def test_a_poller_without_release_request_is_refused_and_audited(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    registry.add(2)
    with pytest.raises(PermissionDenied, match="vic may not release.request on breast-cancer"):
        poll_model(pctx, Actor("vic", "job"), BC, now=T0)
    last = pctx.audit.query()[-1]
    assert (last.actor, last.action, last.resource, last.outcome) == ("vic", "release.request", BC, "denied")
    assert requests(pctx) == []


def test_concurrent_pollers_open_exactly_one_request(pctx, registry) -> None:  # type: ignore[no-untyped-def]
    """Four pollers (threads with their own connections) start at the same moment on each backend."""
    registry.add(3)
    registry.champion("1")
    start = threading.Barrier(4)
    outcomes, errors = [], []

    def poller() -> None:
        try:
            start.wait(timeout=30)
            outcomes.append(poll_model(pctx, OPAL, BC, now=T0))
        except Exception as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=poller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(outcomes) == 4 and sum(o.opened is not None for o in outcomes) == 1
    assert requests(pctx) == [("3", "open", "opal")]
    assert pctx.audit.verify().ok


def test_mlflow_down_is_service_unavailable(pctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gone = ModelRegistry(f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}")
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        poll_model(pctx, OPAL, BC, registry=gone, now=T0)
    assert releases.list_requests(pctx, "opal") == []
