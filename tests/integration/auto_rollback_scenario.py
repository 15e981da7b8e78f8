"""The auto-rollback scenario against real servers, shared by
tests/integration/test_auto_rollback_prometheus.py and benchmarks/auto_rollback_mttr.py.

- **Traffic**: a serving process's metrics in the FastAPI preset's naming
  (``model_predictions_total{model,model_version,status}`` and the
  ``model_prediction_latency_seconds`` histogram), served by prometheus_client on 127.0.0.1 and
  fed ~50 requests per second of one version at a settable latency.
- **Prometheus**: Debian's binary scraping that endpoint every second (tests/prometheus_server.py's
  binaries; the backfill fixture there serves only old data, a watcher needs live data).
- **Vigil**: a SQLite database and a models file in a temporary directory (breast-cancer on the
  given registered model of a real MLflow server, one approval stage, auto-rollback on with
  ``max_p99_ms`` 400 and the shipped timing unless told otherwise), accounts, and
  ``python -m jobs.scheduler`` as a subprocess whose leader runs the watcher.

:meth:`Scenario.breach_to_rollback` slows the version down, notes when Prometheus' own p99 (the
query the watcher makes) first exceeds the threshold, "the breach visible in the data", and
returns the seconds from then until MLflow's ``champion`` alias moved back.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.prometheus_server import PrometheusHandle, serve_scraping

REPO = Path(__file__).resolve().parents[2]
BC = "breast-cancer"
THRESHOLD_MS = 400.0


class Traffic:
    """~``rps`` requests per second of ``version`` observed into a private prometheus_client registry."""

    def __init__(self, model: str = BC, rps: float = 50.0) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

        from tests.prometheus_server import _free_port

        self.model, self.rps = model, rps
        self.registry = CollectorRegistry()
        self.requests = Counter("model_predictions", "Predictions served", ["model", "model_version", "status"],
                                registry=self.registry)
        self.latency = Histogram("model_prediction_latency_seconds", "Prediction latency",
                                 ["model", "model_version"], registry=self.registry,
                                 buckets=(0.025, 0.05, 0.1, 0.25, 0.4, 0.5, 1.0, 2.5, 5.0))
        self.version, self.latency_s = "1", 0.02
        self.port = _free_port()
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, version: str, latency_s: float) -> None:
        self.version, self.latency_s = version, latency_s

    def _serve(self) -> None:
        rng = random.Random(11)
        while not self.stop_event.wait(1.0 / self.rps):
            version, latency = self.version, self.latency_s
            self.requests.labels(self.model, version, "ok").inc()
            self.latency.labels(self.model, version).observe(latency * rng.uniform(0.8, 1.2))

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()


def start_prometheus(target: str, workdir: Path) -> PrometheusHandle:
    """Prometheus scraping ``target`` every second; raises FileNotFoundError without the binary."""
    return serve_scraping(target, workdir)


def p99_query(model: str, version: str, window_s: int) -> str:
    """The PromQL p99 the watcher evaluates (monitoring.slo.presets, FastAPI naming)."""
    from monitoring.slo import presets

    preset = presets.get("fastapi")
    query = preset.quantile(0.99, {**preset.labels_for(model), "model_version": version}, f"{window_s}s")
    assert query is not None
    return query


def promql(url: str, query: str) -> float | None:
    body = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
    result = body.get("data", {}).get("result") or []
    try:
        value = float(result[0]["value"][1])
    except (IndexError, KeyError, ValueError):
        return None
    return None if value != value else value


@dataclass
class Scenario:
    """Vigil wired to ``mlflow_url`` (registered model ``registered_model`` with ``versions``
    versions, champion 1), ``prometheus_url`` and the traffic; see the module docstring."""

    root: Path
    mlflow_url: str
    prometheus_url: str
    traffic: Traffic
    registered_model: str
    versions: int = 2
    policy: dict[str, Any] = field(default_factory=dict)
    ctx: Any = None
    scheduler: subprocess.Popen | None = None  # type: ignore[type-arg]
    metrics_port: int = 0

    def setup(self) -> None:
        from mlflow import MlflowClient

        from core.config import ModelsConfig, load_models_config
        from core.context import AppContext
        from core.settings import Settings

        client = MlflowClient(tracking_uri=self.mlflow_url, registry_uri=self.mlflow_url)
        experiment = client.create_experiment(f"{self.registered_model}-exp")
        client.create_registered_model(self.registered_model)
        for _ in range(self.versions):
            run = client.create_run(experiment, tags={"mlflow.user": "ml-engineer"})
            client.create_model_version(self.registered_model, f"{run.info.artifact_uri}/model",
                                        run_id=run.info.run_id)
        client.set_registered_model_alias(self.registered_model, "champion", "1")
        raw = load_models_config(REPO / "config" / "models.yaml").model_dump(mode="json")
        raw["schedules"] = {}  # the scheduler runs only the watcher
        for m in raw["models"]:
            if m["name"] == BC:
                m["registered_model"] = self.registered_model
                m["approval"] = {"four_eyes": True, "stages": [{"name": "review", "role": "reviewer", "approvals": 1}]}
                m["auto_rollback"] = {**m["auto_rollback"], "enabled": True, "max_p99_ms": THRESHOLD_MS,
                                      "max_error_ratio": 0.05, **self.policy}
        ModelsConfig.model_validate(raw)
        (self.root / "models.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        self.ctx = AppContext.create(Settings.from_env(self.env()))
        self._accounts()

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
                "VIGIL_DATA_DIR": str(self.root / "data"), "VIGIL_CONFIG": str(self.root / "models.yaml"),
                "DATABASE_URL": f"sqlite:///{self.root / 'vigil.db'}", "MLFLOW_TRACKING_URI": self.mlflow_url,
                "PROMETHEUS_URL": self.prometheus_url, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

    def _accounts(self) -> None:
        from core.actor import Actor
        from governance import access, identity
        from governance.rbac import grant

        admin = Actor("root", "cli")
        access.bootstrap_admin(self.ctx, "root", "root-password")
        for name, role, service in (("scheduler", "operator", True), ("opal", "operator", False),
                                    ("rita", "reviewer", False)):
            identity.create_user(self.ctx, admin, name, None if service else f"{name}-password-1",
                                 is_service=service)
            grant(self.ctx, admin, name, role, BC, reason="auto-rollback scenario")

    def aliases(self) -> dict[str, str]:
        from governance.promotion import registry_of

        return registry_of(self.ctx).aliases(self.registered_model)

    def promote(self, version: str) -> None:
        """``version`` through a release request and one review to champion, now; its traffic starts."""
        from core.actor import Actor
        from governance import releases

        self.traffic.set(version, 0.02)
        view = releases.request_release(self.ctx, Actor("opal", "ui"), BC, version, reason="scenario")
        done = releases.approve(self.ctx, Actor("rita", "ui"), view.id, comment="ok")
        assert done.state == "promoted", (done.state, done.closed_reason)

    def start_scheduler(self) -> None:
        from tests.prometheus_server import _free_port

        self.metrics_port = _free_port()
        log = open(self.root / "scheduler.log", "wb")  # noqa: SIM115 (closed with the process)
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "jobs.scheduler", "--host", "127.0.0.1", "--port", str(self.metrics_port),
             "--grace", "10"], cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def stop_scheduler(self, timeout: float = 30.0) -> int:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGTERM)
        return self.scheduler.wait(timeout=timeout)

    def log_tail(self) -> str:
        path = self.root / "scheduler.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def wait_for_check(self, version: str, outcome: str, timeout: float = 60.0) -> Any:
        from governance.auto_rollback import recent_checks

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scheduler is not None and self.scheduler.poll() is not None:
                raise AssertionError(f"the scheduler exited {self.scheduler.returncode}: {self.log_tail()}")
            for check in recent_checks(self.ctx, None, BC, limit=5):
                if check.version == version and check.outcome == outcome:
                    return check
            time.sleep(0.25)
        raise AssertionError(f"no {outcome} check of version {version} within {timeout:g} s: {self.log_tail()}")

    def breach_to_rollback(self, version: str, timeout: float = 90.0) -> tuple[float, float]:
        """Slow ``version`` down; returns (seconds from the breach visible in Prometheus to the
        champion alias moved off ``version``, seconds from the slowdown to visible)."""
        window = int(self.ctx.models.get(BC).auto_rollback.window_seconds)
        query = p99_query(BC, version, window)
        started = time.monotonic()
        self.traffic.set(version, 1.5)
        visible = moved = None
        deadline = started + timeout
        while time.monotonic() < deadline and moved is None:
            now = time.monotonic()
            if visible is None:
                value = promql(self.prometheus_url, query)
                if value is not None and value > THRESHOLD_MS:
                    visible = now
            if self.aliases().get("champion") != version:
                moved = time.monotonic()
                if visible is None:
                    raise AssertionError("the alias moved before the breach was visible in Prometheus")
            else:
                time.sleep(0.2)
        if moved is None or visible is None:
            raise AssertionError(f"no rollback within {timeout:g} s of the slowdown: {self.log_tail()}")
        return moved - visible, visible - started

    def close(self) -> None:
        if self.scheduler is not None and self.scheduler.poll() is None:
            self.scheduler.kill()
            self.scheduler.wait(timeout=10)
        if self.ctx is not None:
            self.ctx.engine.dispose()
