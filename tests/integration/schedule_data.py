"""A small, complete data set on which every shipped schedule line must succeed (~20 s to build).

:func:`prepare` fills a data directory for the shipped ``config/models.yaml``: the job account
``scheduler`` with the operator role, one quickly trained version of each demo model
registered in a local MLflow registry (SQLite) as the champion, and a few hundred inference
log records per model from the last hours, already ingested. Drift then finds logs and a
profile (fitted from the champion's training data), SHAP finds a champion, SLO and health find
logs. Used by tests/integration/test_shipped_schedules.py and benchmarks/scheduler_soak.py.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "models.yaml"


def environment(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment a job needs to run on ``data_dir`` (as vigil.env / the Secret would set)."""
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_CONFIG": str(CONFIG),
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow' / 'mlflow.db'}",
        "VIGIL_JOB_USER": "scheduler",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for key in ("PROMETHEUS_URL", "VIGIL_WEBHOOK_URL", "VIGIL_HEALTH_TEXTFILE"):
        env.pop(key, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    return env


def _records(model: str, version: str, now: datetime, n: int, seed: int) -> list[str]:
    from demo.data import draw_categories, load

    data = load(model)
    rng = np.random.default_rng(seed)
    rows = data.X_test[rng.integers(0, len(data.X_test), size=n)]
    cats = {c: draw_categories(rng, shares, n) for c, shares in data.categorical.items()}
    lines = []
    for i in range(n):
        features: dict[str, object] = {name: float(rows[i, j]) for j, name in enumerate(data.numeric)}
        features.update({c: str(values[i]) for c, values in cats.items()})
        prediction: object = (int(rng.integers(0, 2)) if data.task == "classification"
                              else float(rng.normal(150, 50)))
        lines.append(json.dumps({
            "timestamp": (now - timedelta(hours=6) + timedelta(seconds=i * 6 * 3600 / n)).isoformat(),
            "model": model,
            "version": version,
            "request_id": f"{model}-{seed}-{i}",
            "features": features,
            "prediction": prediction,
            "latency_ms": float(rng.uniform(5, 60)),
            "status": "ok",
            "batch_size": 1,
        }))
    return lines


def prepare(data_dir: Path, database_url: str | None = None, *, rows: int = 300) -> dict[str, str]:
    """Build the data set under ``data_dir``; returns the jobs' environment."""
    import torch

    from core.actor import Actor
    from core.context import AppContext
    from core.db import session_scope
    from core.settings import Settings
    from demo import data as demo_data
    from demo import models as demo_models
    from demo.publish import client_for, register_version
    from governance.identity import insert_user
    from governance.rbac import insert_grant
    from governance.registry import CHAMPION, ModelRegistry
    from monitoring.logs.ingest import ingest_model

    torch.set_num_threads(1)
    env = environment(data_dir, database_url)
    ctx = AppContext.create(Settings.from_env(env))
    try:
        with session_scope(ctx.engine) as session:
            insert_user(session, "scheduler", None, is_service=True)
            insert_grant(session, "scheduler", "operator", "*", granted_by="test",
                         reason="schedule test data")
        client = client_for(ctx.settings)
        registry = ModelRegistry(ctx.settings.mlflow_tracking_uri)
        now = datetime.now(UTC).replace(microsecond=0)
        for k, spec in enumerate(ctx.models.models):
            dataset = demo_data.load(spec.name)
            recipe = demo_models.SPECS[spec.name][0]  # the quickest recipe: this is about plumbing
            trained, metrics = demo_models.train(dataset, recipe)
            version = register_version(client, ctx.settings, spec.registered_model, "schedule test",
                                       dataset, recipe, trained, metrics)
            registry.set_alias(spec.registered_model, CHAMPION, version)
            logs = data_dir / spec.logs
            logs.mkdir(parents=True, exist_ok=True)
            lines = _records(spec.name, version, now, rows, k)
            (logs / f"{now:%Y-%m-%d}.jsonl").write_text("\n".join(lines) + "\n")
            result = ingest_model(ctx, Actor("scheduler", "job"), spec.name)
            assert result.rows_stored == rows, result
    finally:
        ctx.engine.dispose()
    return env
