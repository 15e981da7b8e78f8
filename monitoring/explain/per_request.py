"""Per-request explanations: one logged request's SHAP waterfall, explained by the version that
served it against the stored background of that version's current report (quick: one row).
Prepared explainers are kept in a small in-process LRU keyed by registry, model, version and
background checksum.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.actor import Actor
from core.context import AppContext
from core.errors import InvalidInput, NotFound, ServiceUnavailable
from monitoring.explain import runner, service
from monitoring.explain.service import ARTIFACT_KIND, current_report


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float
    shap: float


@dataclass(frozen=True)
class RequestExplanation:
    model: str
    version: str
    request_id: str
    timestamp: Any
    explainer: str
    base_value: float
    output: float
    contributions: tuple[Contribution, ...]  # largest |SHAP| first
    metadata: dict[str, Any]  # categorical fields; PII shown as "hidden" without model.view_pii
    logged_prediction: Any
    logged_score: Any
    additivity_error: float
    background_source: str  # report <id> | reference


_PREPARED: OrderedDict[tuple[str, str, str, str], runner.PreparedExplainer] = OrderedDict()
_PREPARED_LOCK = threading.Lock()
_PREPARED_MAX = 8


def _prepared_for(
    ctx: AppContext, model: str, version: str, registry: Any | None
) -> tuple[runner.PreparedExplainer, str]:
    spec = ctx.models.get(model)
    report = current_report(ctx, model, version)
    key = (
        ctx.settings.mlflow_tracking_uri,
        model,
        version,
        report.background_sha256 if report else "reference",
    )
    with _PREPARED_LOCK:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key], (f"report {report.id}" if report else "reference")
    reg = service.registry_for(ctx, registry)
    loaded = reg.load_model(spec.registered_model, version)
    if report is not None:
        data = ctx.artifacts.get(ARTIFACT_KIND, report.background_sha256, "background.npy")
        bg = np.load(io.BytesIO(data), allow_pickle=False)
        seed, source = report.seed, f"report {report.id}"
    else:
        reference = service._numeric_matrix(
            reg.reference_data(spec.registered_model, version), spec.numeric_features, "the reference data"
        )
        bg, seed, source = service._sample(reference, 100, np.random.default_rng(0)), 0, "reference"
    prepared = runner.prepare(loaded, bg, spec.numeric_features, task=spec.task, seed=seed)
    with _PREPARED_LOCK:
        _PREPARED[key] = prepared
        while len(_PREPARED) > _PREPARED_MAX:
            _PREPARED.popitem(last=False)
    return prepared, source


def explain_request(
    ctx: AppContext, actor: Actor, model: str, request_id: str, *, registry: Any | None = None
) -> RequestExplanation:
    """The waterfall of one logged request, explained by the version that served it."""
    from governance.rbac import can, require

    require(ctx, actor, "model.view", model)
    spec = ctx.models.get(model)
    request_id = (request_id or "").strip()
    if not request_id:
        raise InvalidInput("enter a request id")
    try:
        record = service._find_request(ctx, model, request_id)
    except ModuleNotFoundError:
        raise ServiceUnavailable("the log store is not part of this build") from None
    if record is None:
        raise NotFound(f"request {request_id!r} is not in the logs of {model}")
    values = record.get("features") if isinstance(record.get("features"), Mapping) else None

    def feature_value(name: str) -> Any:
        return values.get(name) if values is not None else record.get(f"f_{name}")

    row = []
    for name in spec.numeric_features:
        v = feature_value(name)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise InvalidInput(f"request {request_id}: feature {name} is missing, so it cannot be explained")
        row.append(float(v))
    version = str(record.get("version") or "")
    if not version:
        raise InvalidInput(f"request {request_id} does not say which version served it")
    prepared, source = _prepared_for(ctx, model, version, registry)
    result = runner.explain(prepared, np.asarray([row]), seed=0)
    may_see_pii = bool(can(ctx, actor.username, "model.view_pii", model))
    pii = set(spec.pii_features)
    contributions = sorted(
        (
            Contribution(
                name, row[j] if name not in pii or may_see_pii else float("nan"), float(result.values[0, j])
            )
            for j, name in enumerate(spec.numeric_features)
        ),
        key=lambda c: (-abs(c.shap), c.feature),
    )
    metadata = {
        name: (feature_value(name) if name not in pii or may_see_pii else "hidden")
        for name in spec.categorical_features
    }
    return RequestExplanation(
        model=model,
        version=version,
        request_id=request_id,
        timestamp=record.get("timestamp"),
        explainer=result.explainer,
        base_value=result.base_value,
        output=float(result.outputs[0]),
        contributions=tuple(contributions),
        metadata=metadata,
        logged_prediction=record.get("prediction"),
        logged_score=record.get("score"),
        additivity_error=result.additivity_max_error,
        background_source=source,
    )
