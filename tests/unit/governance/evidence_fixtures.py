"""Hand-built inference logs in the real Parquet log store and a real MLflow registry (SQLite)
with a champion alias, for the release-evidence tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.storage import logstore_location
from monitoring.logs.store import store_schema, write_partitioned

NUMERIC = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")  # diabetes, as configured
SITES = ("north", "south", "east")


def requests(version: str, start: datetime, n: int, *, seed: int, every: timedelta = timedelta(minutes=1),
             shift: dict[str, float] | None = None, latency: tuple[float, float] = (40.0, 0.4),
             error_rate: float = 0.0, labelled: bool = True, classes: bool = False) -> pd.DataFrame:
    """``n`` diabetes requests of ``version`` from ``start`` every ``every``: standard-normal
    features (plus ``shift`` in SD), lognormal latency, ``error_rate`` errors, labels near the
    prediction when ``labelled``. With ``classes`` a binary classifier's: class 1 when bmi > 0,
    its score, and a label that disagrees one time in ten. One row per request, features by name."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal((shift or {}).get(name, 0.0), 1.0, n) for name in NUMERIC})
    frame["site"] = np.array(SITES, dtype=object)[rng.integers(0, 3, n)]
    frame["timestamp"] = [start + i * every for i in range(n)]
    frame["version"] = version
    frame["request_id"] = [f"v{version}-{seed}-{i}" for i in range(n)]
    frame["latency_ms"] = rng.lognormal(np.log(latency[0]), latency[1], n)
    failed = rng.random(n) < error_rate
    frame["status"] = np.where(failed, "error", "ok")
    prediction = 100 + 20 * frame["bmi"].to_numpy()
    frame["prediction"] = [None if bad else f"{p:.6f}" for p, bad in zip(prediction, failed, strict=True)]
    label = prediction + rng.normal(0, 5, n)
    frame["label"] = [f"{y:.6f}" if labelled else None for y in label]
    if classes:
        predicted = (frame["bmi"].to_numpy() > 0).astype(int)
        truth = np.where(rng.random(n) < 0.1, 1 - predicted, predicted)
        frame["prediction"] = [None if bad else str(c) for c, bad in zip(predicted, failed, strict=True)]
        frame["score"] = 1 / (1 + np.exp(-frame["bmi"].to_numpy()))
        frame["label"] = [str(t) if labelled else None for t in truth]
    return frame


def write_store(ctx: Any, model: str, frame: pd.DataFrame, part: str) -> None:
    """Write ``frame`` (rows of :func:`requests`) into the log store as ingestion lays it out."""
    spec = ctx.models.get(model)
    schema = store_schema(spec)
    data: dict[str, Any] = {}
    for name in schema.names:
        if name.startswith("f_"):
            feature = name[2:]
            data[name] = frame[feature].tolist() if feature in frame.columns else [None] * len(frame)
        elif name == "model":
            data[name] = [model] * len(frame)
        elif name in frame.columns:
            data[name] = frame[name].tolist()
        else:
            data[name] = [None] * len(frame)
    table = pa.Table.from_pydict(data, schema=schema)
    write_partitioned(logstore_location(ctx.settings), model, table, part)


def feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[*NUMERIC, "site"]]


def registry_with_champion(ctx: Any, tmp: Path, registered: str, champion: str, *, versions: int = 4,
                           logged: dict[str, pd.DataFrame] | None = None) -> str:
    """A real MLflow registry (SQLite) holding ``versions`` versions of ``registered`` with the
    ``champion`` alias on ``champion``, at the context's MLFLOW_TRACKING_URI; ``logged``:
    version -> reference data logged with its run."""
    from mlflow import MlflowClient

    from governance.registry import CHAMPION, ModelRegistry, _sqlite_file

    uri = ctx.settings.mlflow_tracking_uri
    _sqlite_file(uri).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("evidence", artifact_location=str(tmp / "artifacts"))
    client.create_registered_model(registered)
    for v in range(1, versions + 1):
        run = client.create_run(experiment)
        data = (logged or {}).get(str(v))
        if data is not None:
            path = tmp / f"reference-{v}" / "reference.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            data.to_parquet(path, index=False)
            client.log_artifact(run.info.run_id, str(path), "reference")
        client.create_model_version(registered, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    ModelRegistry(uri).set_alias(registered, CHAMPION, champion)
    return uri
