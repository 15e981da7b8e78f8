"""The demo's build steps that need the heavy libraries (torch, scikit-learn, MLflow).

Each returns a small JSON-able dict of details that ``jobs.demo`` stores in the manifest.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from core.config import ModelSpec
from core.context import AppContext
from core.errors import ConfigError, Conflict
from demo import CHAMPION_SPEC, ROLLOUTS

Progress = Callable[[str], None]
log = logging.getLogger("vigil.demo")


def quiet_libraries() -> None:
    """Keep MLflow's chatter (progress bars, pickle warnings, 'Created version') off the console."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # noqa: F401  (it configures its loggers on import; quieten them afterwards)

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")


def demo_models(ctx: AppContext) -> list[ModelSpec]:
    """The configured models the demo knows how to build (others are left alone)."""
    from demo.data import DATASETS

    found = [m for m in ctx.models.models if m.name in DATASETS]
    if not found:
        raise ConfigError(
            f"{ctx.settings.config_file}: models: lists none of the demo's models ({', '.join(DATASETS)})"
        )
    return found


def logs_dir(ctx: AppContext, spec: ModelSpec) -> Path:
    if "://" in spec.logs:
        raise ConfigError(
            f"{ctx.settings.config_file}: models[{spec.name}].logs: the demo writes local "
            f"files only, got the URL {spec.logs!r}"
        )
    path = Path(spec.logs).expanduser()
    return path if path.is_absolute() else ctx.settings.data_dir / path


def reset_registry(ctx: AppContext, progress: Progress) -> list[str]:
    """Delete the demo's registered models (``--force``), so versions start again at 1; returns
    the names deleted."""
    from demo import publish

    quiet_libraries()
    client = publish.client_for(ctx.settings)
    deleted = []
    for spec in demo_models(ctx):
        if publish.delete_registered_model(client, spec.registered_model):
            progress(f"deleted registered model {spec.registered_model}")
            deleted.append(spec.registered_model)
    return deleted


def train_and_register(ctx: AppContext, progress: Progress) -> dict[str, Any]:
    """Train and register the missing versions (v1-v3) of each demo model; set the champion."""
    import torch

    from demo import publish
    from demo.data import load
    from demo.models import SPECS, train
    from governance.registry import CHAMPION, ModelRegistry

    quiet_libraries()
    torch.set_num_threads(1)
    client = publish.client_for(ctx.settings)
    registry = ModelRegistry(ctx.settings.mlflow_tracking_uri)
    details: dict[str, Any] = {}
    for spec in demo_models(ctx):
        data = load(spec.name)
        have = publish.registered_specs(client, spec.registered_model)
        for version_spec in SPECS[spec.name]:
            if version_spec.name in have:
                continue
            model, metrics = train(data, version_spec)
            have[version_spec.name] = publish.register_version(
                client,
                ctx.settings,
                spec.registered_model,
                spec.description,
                data,
                version_spec,
                model,
                metrics,
            )
            progress(
                f"{spec.registered_model} version {have[version_spec.name]} ({version_spec.name}): "
                + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
            )
        champion = have[CHAMPION_SPEC[spec.name]]
        registry.set_alias(spec.registered_model, CHAMPION, champion)
        progress(f"{spec.registered_model}: champion -> version {champion}")
        details[spec.name] = {
            "registered_model": spec.registered_model,
            "versions": have,
            "champion": champion,
        }
    return details


def retrain(ctx: AppContext, model: str, progress: Progress) -> dict[str, Any]:
    """Train and register one new version of ``model`` (the configured retrain command).

    The new version gets no alias: promoting it is a release decision, not the trainer's.
    """
    import torch

    from demo import publish
    from demo.data import load
    from demo.models import retrain_spec, train

    quiet_libraries()
    torch.set_num_threads(1)
    spec = ctx.models.get(model)
    if spec not in demo_models(ctx):
        raise ConfigError(f"{ctx.settings.config_file}: model {model!r} is not one the demo can train")
    client = publish.client_for(ctx.settings)
    have = publish.registered_specs(client, spec.registered_model)
    n = 1 + sum(1 for name in have if name.startswith("retrain-"))
    version_spec = retrain_spec(model, n)
    data = load(model)
    trained, metrics = train(data, version_spec)
    version = publish.register_version(
        client, ctx.settings, spec.registered_model, spec.description, data, version_spec, trained, metrics
    )
    progress(
        f"{spec.registered_model} version {version} ({version_spec.name}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
    )
    return {
        "registered_model": spec.registered_model,
        "version": version,
        "spec": version_spec.name,
        "metrics": metrics,
    }


def write_timeline_logs(ctx: AppContext, anchor: datetime, progress: Progress) -> dict[str, Any]:
    """Serve each model's 30-day timeline with the registered versions and write the logs."""
    import torch

    from demo import publish
    from demo.data import load
    from demo.serve import serve, torch_device
    from demo.timeline import build_timeline
    from demo.writer import write_logs
    from governance.registry import ModelRegistry

    quiet_libraries()
    torch.set_num_threads(1)
    client = publish.client_for(ctx.settings)
    registry = ModelRegistry(ctx.settings.mlflow_tracking_uri)
    device = torch_device()
    details: dict[str, Any] = {"device": device}
    for spec in demo_models(ctx):
        data = load(spec.name)
        versions = publish.registered_specs(client, spec.registered_model)
        needed = sorted({s for _, s in ROLLOUTS[spec.name]})
        missing = [s for s in needed if s not in versions]
        if missing:
            raise Conflict(
                f"{spec.registered_model} lacks demo versions {', '.join(missing)}: "
                "rebuild with `python -m jobs.demo --force`"
            )
        is_torch = data.task == "classification"
        models = {
            s: registry.load_model(spec.registered_model, versions[s], device=device if is_torch else None)
            for s in needed
        }
        timeline = build_timeline(data, anchor)
        served = serve(
            timeline, models, task=data.task, device=device if is_torch else "cpu", progress=progress
        )
        directory = logs_dir(ctx, spec)
        files = write_logs(directory, timeline, served, data, versions)
        errors = int((timeline.status == "error").sum())
        progress(
            f"{spec.name}: {len(timeline):,} requests, {errors} errors, {len(files)} files in {directory}"
        )
        details[spec.name] = {
            "requests": len(timeline),
            "errors": errors,
            "files": len(files),
            "directory": str(directory),
            "first_day": files[0].stem if files else None,
            "last_day": files[-1].stem if files else None,
        }
    return details
