"""The demo's latency-breach aid (demo.breach): the lines it appends are valid inference-log records
of the champion, ingested at once, and the auto-rollback watcher's evidence sees the breach;
outside demo mode it is refused and audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.actor import Actor
from core.context import AppContext
from core.errors import InvalidInput
from core.settings import Settings
from demo.breach import inject_latency_breach
from governance import auto_rollback
from tests.conftest import REPO_ROOT
from tests.unit.governance.release_fixtures import BC
from tests.unit.governance.test_promotion import make_versions

JOB = Actor("root", "cli")


def _ctx(tmp_path: Path, demo: bool) -> AppContext:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
           "VIGIL_DEMO": "true" if demo else "false"}
    return AppContext.create(Settings.from_env(env))


@pytest.fixture
def demo_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """Demo mode, breast-cancer with champion 2 and one older healthy log line (the template)."""
    from governance import access

    context = _ctx(tmp_path, demo=True)
    access.bootstrap_admin(context, "root", "root-password")
    make_versions(context.settings.mlflow_tracking_uri, tmp_path, 2, champion="2")
    spec = context.models.get(BC)
    logs = Path(context.settings.data_dir) / "logs" / BC
    logs.mkdir(parents=True)
    old = datetime.now(UTC) - timedelta(days=1)
    record = {"timestamp": old.isoformat(timespec="milliseconds"), "model": BC, "version": "1",
              "request_id": "old-1", "features": {f.name: (14.0 if f.type == "numeric" else "north")
                                                  for f in spec.features},
              "prediction": "0", "score": 0.1, "latency_ms": 30.0, "status": "ok"}
    (logs / f"{old:%Y-%m-%d}.jsonl").write_text(json.dumps(record) + "\n")
    yield context
    context.engine.dispose()


def test_the_injected_breach_is_ingested_and_seen_by_the_watcher(demo_ctx: AppContext) -> None:
    now = datetime.now(UTC)
    said: list[str] = []
    details = inject_latency_breach(demo_ctx, JOB, BC, said.append, now=now)
    assert details["version"] == "2" and details["requests"] == 300
    assert any("ingested" in line and "stored=301 quarantined=0" in line for line in said)  # + the old line
    spec = demo_ctx.models.get(BC)
    evidence = auto_rollback.gather_evidence(demo_ctx, spec, "2", now + timedelta(seconds=1))
    outcome, detail = auto_rollback.judge(spec.auto_rollback, evidence)
    assert evidence.source == "logs" and evidence.requests == 300
    assert outcome == "breach" and evidence.p99_ms > 1000 and evidence.error_ratio > 0.05, detail
    # the console never promoted anything here: the command says no rollback will follow
    assert details["probation"] == "no promotion"
    [entry] = demo_ctx.audit.query(action="demo.inject_breach")
    assert entry.outcome == "success" and entry.details["version"] == "2"


def test_outside_demo_mode_the_injection_is_refused_and_audited(tmp_path: Path) -> None:
    context = _ctx(tmp_path, demo=False)
    try:
        with pytest.raises(InvalidInput, match="runs only in demo mode"):
            inject_latency_breach(context, JOB, BC, print)
        [entry] = context.audit.query(action="demo.inject_breach")
        assert entry.outcome == "denied"
    finally:
        context.engine.dispose()
