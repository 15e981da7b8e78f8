"""Where explanations get their inputs: the model registry (the injected one, or MLflow from the
settings), the version to explain, the reference data and the logged window as complete numeric
matrices, seeded samples of them, and one logged request.

The SHAP writer (:mod:`monitoring.explain.pipeline`) and the per-request explainer
(:mod:`monitoring.explain.per_request`) both read through these functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from core.context import AppContext
from core.errors import InvalidInput, NotFound, ServiceUnavailable


def registry_for(ctx: AppContext, registry: Any | None = None) -> Any:
    """The injected registry, or the MLflow registry of the settings."""
    if registry is not None:
        return registry
    from governance.registry import ModelRegistry

    return ModelRegistry(ctx.settings.mlflow_tracking_uri)


def resolve_version(registry: Any, registered_model: str, version: str | int | None) -> str:
    """``version`` as text, or the champion's version when it is None (NotFound without one)."""
    if version is not None:
        return str(version)
    champion = registry.champion(registered_model)
    if champion is None:
        raise NotFound(f"{registered_model} has no champion alias; pass a version explicitly")
    return str(champion.version)


def numeric_matrix(frame: Any, columns: list[str], what: str) -> np.ndarray:
    """``frame``'s ``columns`` as float64, rows with a missing value left out (``what`` names the
    data in the error when a column is absent)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} lacks the feature columns {', '.join(missing[:5])}")
    matrix = frame[columns].apply(lambda s: s.astype("float64")).to_numpy(dtype=np.float64)
    return matrix[~np.isnan(matrix).any(axis=1)]


def sample_rows(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows of ``matrix`` drawn without replacement, in their original order."""
    if len(matrix) <= n:
        return matrix
    return matrix[np.sort(rng.choice(len(matrix), size=n, replace=False))]


def reference_matrix(registry: Any, spec: Any, version: str) -> np.ndarray:
    """The complete numeric rows of ``version``'s reference data (InvalidInput when there are none)."""
    reference = numeric_matrix(
        registry.reference_data(spec.registered_model, version), spec.numeric_features, "the reference data"
    )
    if len(reference) == 0:
        raise InvalidInput(f"{spec.registered_model} v{version}: the reference data has no complete rows")
    return reference


def read_window(ctx: AppContext, model: str, start: datetime, end: datetime, columns: list[str]) -> Any:
    """The window's logged rows as a DataFrame (``f_<feature>`` columns), or None without a log store."""
    try:
        from monitoring.logs import store
    except ModuleNotFoundError:
        return None
    table = store.read_window(ctx.settings, model, start, end, columns=columns)
    return table.to_pandas()


def find_request(ctx: AppContext, model: str, request_id: str) -> dict[str, Any] | None:
    """One logged request of ``model`` (None when the logs do not hold it)."""
    try:
        from monitoring.logs import store
    except ModuleNotFoundError:
        raise ServiceUnavailable("the log store is not part of this build") from None
    return store.find_request(ctx.settings, model, request_id)
