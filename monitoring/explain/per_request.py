"""Per-request explanations: one logged request's SHAP waterfall, explained by the version that
served it against the stored background of that version's current report (quick: one row).

The service checks ``model.view`` for the acting user (a refusal is audited) and hides PII
feature values from anyone without ``model.view_pii``. Prepared explainers are kept in a small
in-process LRU cache (cachetools, :data:`PREPARED_MAX` entries, thread-safe; concurrent
requests for the same key prepare once) keyed by registry, model, version and background
checksum.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache, cached

from core.actor import Actor
from core.context import AppContext
from core.errors import InvalidInput, NotFound
from governance.rbac import can, require
from monitoring.explain import archive, inputs, runner
from monitoring.explain.reports import current_report
from monitoring.explain.views import ShapReportView

PREPARED_MAX = 8  # prepared explainers kept (a DeepExplainer holds its model and background)
REFERENCE_BACKGROUND_ROWS = 100  # background drawn from the reference when a version has no report


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


def _prepared_key(ctx: AppContext, model: str, version: str, report: ShapReportView | None,
                  registry: Any | None) -> tuple[str, str, str, str]:
    return (
        ctx.settings.mlflow_tracking_uri,
        model,
        version,
        report.background_sha256 if report else "reference",
    )


@cached(LRUCache(maxsize=PREPARED_MAX), key=_prepared_key, condition=threading.Condition(), info=True)
def _prepared(ctx: AppContext, model: str, version: str, report: ShapReportView | None,
              registry: Any | None) -> runner.PreparedExplainer:
    """The explainer of ``version`` against its current report's background (the reference's
    first seeded sample when the version has no report yet)."""
    spec = ctx.models.get(model)
    reg = inputs.registry_for(ctx, registry)
    loaded = reg.load_model(spec.registered_model, version)
    if report is not None:
        bg, seed = archive.read_background(ctx, report.background_sha256), report.seed
    else:
        reference = inputs.reference_matrix(reg, spec, version)
        bg = inputs.sample_rows(reference, REFERENCE_BACKGROUND_ROWS, np.random.default_rng(0))
        seed = 0
    return runner.prepare(loaded, bg, spec.numeric_features, task=spec.task, seed=seed)


def prepared_cache_info() -> Any:
    """Hits, misses, size bound and current size of the prepared-explainer cache."""
    return _prepared.cache_info()


def explain_request(
    ctx: AppContext, actor: Actor, model: str, request_id: str, *, registry: Any | None = None
) -> RequestExplanation:
    """The waterfall of one logged request, explained by the version that served it."""
    require(ctx, actor, "model.view", model)
    spec = ctx.models.get(model)
    request_id = (request_id or "").strip()
    if not request_id:
        raise InvalidInput("enter a request id")
    record = inputs.find_request(ctx, model, request_id)
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
    report = current_report(ctx, model, version)
    prepared = _prepared(ctx, model, version, report, registry)
    source = f"report {report.id}" if report else "reference"
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
