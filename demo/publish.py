"""Log demo versions to MLflow: a run with params, metrics, the model and the reference data,
registered as a new version of the configured registered model.

Each version carries the tag ``demo_spec`` (v1, v2, v3, retrain-1, ...), which makes training
idempotent: a spec already in the registry is not trained again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from core.errors import ServiceUnavailable
from core.settings import Settings
from demo.data import DemoDataset
from demo.models import VersionSpec

log = logging.getLogger("vigil.demo")
SPEC_TAG = "demo_spec"
EXPERIMENT_PREFIX = "vigil-demo-"


def client_for(settings: Settings) -> Any:
    """An MlflowClient on the configured URI, with the fluent API pointed there too."""
    import mlflow
    from mlflow import MlflowClient  # telemetry is off: core/__init__ ran at this module's import

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:"):
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: Any, settings: Settings, model: str) -> str:
    name = f"{EXPERIMENT_PREFIX}{model}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    location = None
    if settings.mlflow_tracking_uri.startswith("sqlite:"):
        location = (settings.mlflow_artifacts_dir / name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def registered_specs(client: Any, registered_model: str) -> dict[str, str]:
    """demo_spec tag -> version number, for the versions already registered."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{registered_model}'")
    except MlflowException:
        return {}
    out: dict[str, str] = {}
    for mv in sorted(versions, key=lambda v: int(v.version)):
        spec = (mv.tags or {}).get(SPEC_TAG)
        if spec:
            out.setdefault(spec, str(mv.version))
    return out


def delete_registered_model(client: Any, registered_model: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model(registered_model)
        return True
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def _pip_requirements(task: str) -> list[str]:
    from importlib.metadata import version

    packages = ["torch"] if task == "classification" else ["scikit-learn", "skops"]
    return [f"{name}=={version(name)}" for name in packages + ["numpy"]]


def register_version(
    client: Any,
    settings: Settings,
    registered_model: str,
    description: str,
    data: DemoDataset,
    spec: VersionSpec,
    model: Any,
    metrics: dict[str, float],
) -> str:
    """Log one trained version and register it; returns the new version number."""
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    experiment_id = ensure_experiment(client, settings, data.model)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(registered_model)
    except MlflowException:
        client.create_registered_model(
            registered_model,
            description=description,
            tags={"monitored_model": data.model, "source": "vigil demo"},
        )
    sample = data.X_test[:5].astype(np.float32)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{data.model}-{spec.name}"):
        mlflow.log_params({k: str(v) for k, v in spec.params.items()})
        mlflow.log_params({"train_rows": len(data.train_idx), "test_rows": len(data.test_idx)})
        mlflow.log_metrics(metrics)
        mlflow.set_tags({SPEC_TAG: spec.name, "monitored_model": data.model})
        with tempfile.TemporaryDirectory(prefix="vigil-demo-ref-") as tmp:
            ref = Path(tmp) / "reference.parquet"
            data.reference_frame().to_parquet(ref, index=False)
            mlflow.log_artifact(str(ref), artifact_path="reference")
        if data.task == "classification":
            import mlflow.pytorch

            from demo.models import predict_proba

            signature = infer_signature(
                sample, predict_proba(model, sample).reshape(-1, 1).astype(np.float32)
            )
            info = mlflow.pytorch.log_model(
                model,
                name="model",
                serialization_format="pickle",
                signature=signature,
                pip_requirements=_pip_requirements(data.task),
            )
        else:
            import mlflow.sklearn

            signature = infer_signature(data.X_test[:5], model.predict(data.X_test[:5]))
            # skops refuses tree node storage unless trusted; these trees are trained right here.
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                skops_trusted_types=["sklearn.tree._tree.Tree"],
                pip_requirements=_pip_requirements(data.task),
            )
        with contextlib.redirect_stderr(io.StringIO()):  # "Created version ..." chatter
            mv = mlflow.register_model(info.model_uri, registered_model, tags={SPEC_TAG: spec.name})
    version = str(mv.version)
    client.update_model_version(registered_model, version, description=spec.description)
    if str(mv.status) not in {"READY", "ModelVersionStatus.READY"}:
        raise ServiceUnavailable(f"MLflow left {registered_model} version {version} in status {mv.status}")
    log.debug(
        "registered %s version %s (%s): %s",
        registered_model,
        version,
        spec.name,
        ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()),
    )
    return version
