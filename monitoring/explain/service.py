"""The explanation service: SHAP reports per model version, attribution drift, drift that matters,
and per-request explanations.

``run_shap_report`` is the one writer (job ``shap`` and the page's operators call it): it loads
the version from the registry, explains a sample of the recent window of logs against a
background from the version's reference data, archives the JSON and HTML report in the artifact
store (kind ``shap``) and in MLflow, stores a ``shap_reports`` row (the newest per version is
current) and the attribution drift of the window against the reference. Readers take an
optional ``viewer``: when given, ``model.view`` on the model is checked.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import desc, select, update

from core.actor import Actor
from core.context import AppContext
from core.db import session_scope, write_scope
from core.errors import InvalidInput, NotFound, VigilError
from monitoring.explain import attribution as attr
from monitoring.explain import importance as imp
from monitoring.explain import report as rep
from monitoring.explain import runner
from monitoring.explain.tables import AttributionDriftResult, ShapReport
from core.timeutil import aware

log = logging.getLogger(__name__)

ARTIFACT_KIND = "shap"
ACTION = "shap.run"
_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Drift severity words on the PSI scale (monitoring.drift: < 0.1 none, 0.1-0.25 moderate, >= 0.25 significant).
_SEVERITY_WORDS = {"none": 0.0, "moderate": 0.1, "significant": 0.25}


# ----------------------------------------------------------------------------- views
@dataclass(frozen=True)
class ShapReportView:
    id: int
    model: str
    version: str
    window: str
    window_start: datetime | None
    window_end: datetime | None
    created_at: datetime
    actor: str
    sample_source: str  # window | reference (the window had no logged rows)
    explainer: str
    device: str
    background_rows: int
    explained_rows: int
    seed: int
    runtime_s: float
    additivity_max_error: float
    additivity_tolerance: float
    additivity_ok: bool
    json_sha256: str
    json_size: int
    html_sha256: str
    html_size: int
    background_sha256: str
    importance: dict[str, float]  # feature -> mean |SHAP|
    reference_importance: dict[str, float]
    mlflow_logged: bool
    notes: tuple[str, ...]
    is_current: bool

    def top_features(self, k: int = 5) -> tuple[str, ...]:
        return tuple(imp.rank_order(self.importance)[:k])


@dataclass(frozen=True)
class AttributionDriftPoint:
    report_id: int
    model: str
    version: str
    created_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    distance: float
    threshold: float
    drifted: bool
    rank_changes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DriftThatMattersView:
    model: str
    version: str
    report_id: int
    drift_checked_at: datetime | None
    result: attr.DriftThatMatters


# ----------------------------------------------------------------------------- helpers
def parse_window(window: str) -> timedelta:
    match = _WINDOW.match(window or "")
    if not match:
        raise InvalidInput(f"window {window!r}: expected a number and a unit m, h, d or w (e.g. 1d, 12h)")
    amount = int(match.group(1))
    if amount <= 0:
        raise InvalidInput(f"window {window!r} must be positive")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def _utc(moment: datetime | None) -> datetime:
    moment = moment or datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_view(ctx: AppContext, viewer: str | None, model: str) -> None:
    from governance.rbac import require_view

    require_view(ctx, viewer, model)


def registry_for(ctx: AppContext, registry: Any | None = None) -> Any:
    """The injected registry, or the MLflow registry of the settings."""
    if registry is not None:
        return registry
    from governance.registry import ModelRegistry

    return ModelRegistry(ctx.settings.mlflow_tracking_uri)


def _resolve_version(registry: Any, registered_model: str, version: str | int | None) -> str:
    if version is not None:
        return str(version)
    champion = registry.champion(registered_model)
    if champion is None:
        raise NotFound(f"{registered_model} has no champion alias; pass a version explicitly")
    return str(champion.version)


def _numeric_matrix(frame: Any, columns: list[str], what: str) -> np.ndarray:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} lacks the feature columns {', '.join(missing[:5])}")
    matrix = frame[columns].apply(lambda s: s.astype("float64")).to_numpy(dtype=np.float64)
    return matrix[~np.isnan(matrix).any(axis=1)]


def _sample(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(matrix) <= n:
        return matrix
    return matrix[np.sort(rng.choice(len(matrix), size=n, replace=False))]


def _read_window(ctx: AppContext, model: str, start: datetime, end: datetime, columns: list[str]) -> Any:
    """The window's logged rows as a DataFrame (``f_<feature>`` columns), or None without a log store."""
    try:
        from monitoring.logs import store
    except ModuleNotFoundError:
        return None
    table = store.read_window(ctx.settings, model, start, end, columns=columns)
    return table.to_pandas()


def _find_request(ctx: AppContext, model: str, request_id: str) -> dict[str, Any] | None:
    from monitoring.logs import store

    return store.find_request(ctx.settings, model, request_id)


def _npy_bytes(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(matrix, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _view(row: ShapReport) -> ShapReportView:
    ref = row.reference_importance or {}
    return ShapReportView(
        id=row.id,
        model=row.model,
        version=row.version,
        window=row.window,
        window_start=aware(row.window_start),
        window_end=aware(row.window_end),
        created_at=aware(row.created_at) or row.created_at,
        actor=row.actor,
        sample_source=row.sample_source,
        explainer=row.explainer,
        device=row.device,
        background_rows=row.background_rows,
        explained_rows=row.explained_rows,
        seed=row.seed,
        runtime_s=row.runtime_s,
        additivity_max_error=row.additivity_max_error,
        additivity_tolerance=row.additivity_tolerance,
        additivity_ok=bool(row.additivity_ok),
        json_sha256=row.json_sha256,
        json_size=row.json_size,
        html_sha256=row.html_sha256,
        html_size=row.html_size,
        background_sha256=row.background_sha256,
        importance={k: float(v) for k, v in (row.importance or {}).items()},
        reference_importance={k: float(v) for k, v in (ref.get("vector") or {}).items()},
        mlflow_logged=bool(row.mlflow_logged),
        notes=tuple(n for n in (row.notes or "").split("\n") if n),
        is_current=bool(row.is_current),
    )



# ----------------------------------------------------------------------------- the writer
def run_shap_report(
    ctx: AppContext,
    actor: Actor,
    model: str,
    *,
    version: str | int | None = None,
    window: str = "1d",
    at: datetime | None = None,
    background: int = 100,
    explain: int = 1000,
    seed: int = 0,
    max_evals: int = 500,
    registry: Any | None = None,
) -> ShapReportView:
    """Explain ``version`` (default: the champion) on the recent window and archive the report."""
    from governance.rbac import require

    require(ctx, actor, ACTION, model)
    try:
        view = _run(
            ctx,
            actor,
            model,
            version=version,
            window=window,
            at=at,
            background=background,
            explain=explain,
            seed=seed,
            max_evals=max_evals,
            registry=registry,
        )
    except Exception as exc:
        ctx.audit.append(
            actor,
            ACTION,
            model,
            "failed",
            details={
                "version": None if version is None else str(version),
                "window": window,
                "error": f"{type(exc).__name__}: {exc}"[:500],
            },
        )
        if isinstance(exc, VigilError):
            raise
        raise VigilError(f"SHAP report for {model} failed: {type(exc).__name__}: {exc}") from exc
    ctx.audit.append(
        actor,
        ACTION,
        model,
        "success",
        details={
            "version": view.version,
            "report_id": view.id,
            "json_sha256": view.json_sha256,
            "html_sha256": view.html_sha256,
            "explainer": view.explainer,
            "device": view.device,
            "sample_source": view.sample_source,
            "additivity_ok": view.additivity_ok,
        },
    )
    return view


def _run(
    ctx: AppContext,
    actor: Actor,
    model: str,
    *,
    version: str | int | None,
    window: str,
    at: datetime | None,
    background: int,
    explain: int,
    seed: int,
    max_evals: int,
    registry: Any | None,
) -> ShapReportView:
    if background < 1 or explain < 1:
        raise InvalidInput("background and explain sample sizes must be at least 1")
    spec = ctx.models.get(model)
    span = parse_window(window)
    end = _utc(at)
    start = end - span
    reg = registry_for(ctx, registry)
    ver = _resolve_version(reg, spec.registered_model, version)
    features = spec.numeric_features
    notes: list[str] = []

    loaded = reg.load_model(spec.registered_model, ver)
    reference = _numeric_matrix(
        reg.reference_data(spec.registered_model, ver), features, "the reference data"
    )
    if len(reference) == 0:
        raise InvalidInput(f"{spec.registered_model} v{ver}: the reference data has no complete rows")
    rng = np.random.default_rng(seed)
    bg = _sample(reference, background, rng)
    if len(bg) < background:
        notes.append(f"reference has only {len(bg)} complete rows for a background of {background}")

    frame = _read_window(ctx, model, start, end, [f"f_{f}" for f in features])
    current = None
    if frame is None:
        notes.append("no log store in this build: explained a reference sample")
    elif len(frame) == 0:
        notes.append(
            f"no logged rows in the window {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
            "explained a reference sample instead"
        )
    else:
        window_matrix = _numeric_matrix(
            frame.rename(columns=lambda c: c.removeprefix("f_")), features, "the log window"
        )
        dropped = len(frame) - len(window_matrix)
        if dropped:
            notes.append(f"{dropped} logged rows with missing feature values were left out")
        if len(window_matrix):
            current = _sample(window_matrix, explain, np.random.default_rng(seed + 1))
        else:
            notes.append("no complete logged rows in the window: explained a reference sample instead")
    source = "window" if current is not None else "reference"

    prepared = runner.prepare(loaded, bg, features, task=spec.task, max_evals=max_evals, seed=seed)
    ref_rows = _sample(reference, explain, np.random.default_rng(seed + 2))
    previous = _reusable_reference(ctx, model, ver, seed, len(bg), len(ref_rows))
    if source == "window":
        result = runner.explain(prepared, current, seed=seed)
        if previous is not None:
            ref_vector = previous
        else:
            ref_vector = imp.global_importance(
                runner.explain(prepared, ref_rows, seed=seed).values, features, n_boot=0
            ).vector()
    else:
        result = runner.explain(prepared, ref_rows, seed=seed)
        ref_vector = None
    notes.extend(result.notes)
    if not result.additivity_ok:
        notes.append(
            f"additivity check failed: max error {result.additivity_max_error:.3g} > "
            f"tolerance {result.additivity_tolerance:.3g}"
        )

    importance = imp.global_importance(result.values, features, seed=seed)
    if ref_vector is None:
        ref_vector = importance.vector()
    drift = (
        attr.attribution_drift(ref_vector, importance.vector(), threshold=spec.thresholds.attribution_drift)
        if source == "window"
        else None
    )
    beeswarm = imp.beeswarm_data(
        result.values, result.data, features, features=[f.feature for f in importance.features], seed=seed
    )
    created = datetime.now(UTC)
    content = rep.ReportContent(
        model=model,
        version=ver,
        registered_model=spec.registered_model,
        created_at=created.isoformat(),
        window=window,
        window_start=start.isoformat() if source == "window" else None,
        window_end=end.isoformat() if source == "window" else None,
        sample_source=source,
        explainer=result.explainer,
        device=result.device,
        background_rows=result.background_rows,
        explained_rows=result.rows,
        seed=seed,
        runtime_s=result.runtime_s,
        additivity_max_error=result.additivity_max_error,
        additivity_tolerance=result.additivity_tolerance,
        base_value=result.base_value,
        importance=importance,
        beeswarm=beeswarm,
        attribution=drift.to_json_dict() if drift else None,
        notes=tuple(notes),
    )
    stored_json = ctx.artifacts.put(ARTIFACT_KIND, "shap_report.json", rep.to_json_bytes(content))
    stored_html = ctx.artifacts.put(ARTIFACT_KIND, "shap_report.html", rep.to_html_bytes(content))
    stored_bg = ctx.artifacts.put(ARTIFACT_KIND, "background.npy", _npy_bytes(bg))

    logged = True
    for stored in (stored_json, stored_html):
        try:
            reg.log_artifact(spec.registered_model, ver, str(stored.path), "shap")
        except Exception as exc:  # noqa: BLE001  (archived locally; the next run logs again)
            logged = False
            notes.append(f"not logged to MLflow: {type(exc).__name__}: {exc}")
            break

    with write_scope(ctx.engine) as session:
        session.execute(
            update(ShapReport)
            .where(ShapReport.model == model, ShapReport.version == ver, ShapReport.is_current.is_(True))
            .values(is_current=False)
        )
        row = ShapReport(
            model=model,
            version=ver,
            window=window,
            window_start=start if source == "window" else None,
            window_end=end if source == "window" else None,
            created_at=created,
            actor=actor.username,
            sample_source=source,
            explainer=result.explainer,
            device=result.device,
            background_rows=result.background_rows,
            explained_rows=result.rows,
            seed=seed,
            runtime_s=float(result.runtime_s),
            additivity_max_error=float(result.additivity_max_error),
            additivity_tolerance=float(result.additivity_tolerance),
            additivity_ok=result.additivity_ok,
            json_sha256=stored_json.sha256,
            json_size=stored_json.size,
            html_sha256=stored_html.sha256,
            html_size=stored_html.size,
            background_sha256=stored_bg.sha256,
            importance=importance.vector(),
            reference_importance={"rows": len(ref_rows), "vector": ref_vector},
            mlflow_logged=logged,
            notes="\n".join(notes),
            is_current=True,
        )
        session.add(row)
        session.flush()
        if drift is not None:
            session.add(
                AttributionDriftResult(
                    report_id=row.id,
                    model=model,
                    version=ver,
                    created_at=created,
                    window_start=start,
                    window_end=end,
                    distance=drift.distance,
                    threshold=drift.threshold,
                    drifted=drift.drifted,
                    rank_changes=[{**c.__dict__, "change": c.change} for c in drift.changes],
                )
            )
        view = _view(row)
    log.info(
        "SHAP report %s for %s v%s: %s on %s, %d rows, %.2f s",
        view.id,
        model,
        ver,
        view.explainer,
        view.device,
        view.explained_rows,
        view.runtime_s,
    )
    return view


def _reusable_reference(
    ctx: AppContext, model: str, version: str, seed: int, background_rows: int, reference_rows: int
) -> dict[str, float] | None:
    """The reference importance of an earlier report on the same version and samples, if any."""
    with session_scope(ctx.engine) as session:
        rows = session.scalars(
            select(ShapReport)
            .where(
                ShapReport.model == model,
                ShapReport.version == version,
                ShapReport.seed == seed,
                ShapReport.background_rows == background_rows,
            )
            .order_by(desc(ShapReport.id))
            .limit(5)
        )
        for row in rows:
            ref = row.reference_importance or {}
            if ref.get("rows") == reference_rows and ref.get("vector"):
                return {k: float(v) for k, v in ref["vector"].items()}
    return None


# ----------------------------------------------------------------------------- readers
def current_report(ctx: AppContext, model: str, version: str | int) -> ShapReportView | None:
    """The version's current SHAP report, or None when it has none (release approvals cite it)."""
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ShapReport)
            .where(
                ShapReport.model == model, ShapReport.version == str(version), ShapReport.is_current.is_(True)
            )
            .order_by(desc(ShapReport.id))
            .limit(1)
        ).first()
        return _view(row) if row is not None else None


def latest_report(ctx: AppContext, model: str, *, viewer: str | None = None) -> ShapReportView | None:
    """The newest current report of any version of ``model``."""
    _check_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ShapReport)
            .where(ShapReport.model == model, ShapReport.is_current.is_(True))
            .order_by(desc(ShapReport.created_at), desc(ShapReport.id))
            .limit(1)
        ).first()
        return _view(row) if row is not None else None


def report_history(
    ctx: AppContext, model: str, *, viewer: str | None = None, limit: int = 100
) -> list[ShapReportView]:
    """Reports of ``model``, newest first."""
    _check_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(
            select(ShapReport)
            .where(ShapReport.model == model)
            .order_by(desc(ShapReport.created_at), desc(ShapReport.id))
            .limit(limit)
        )
        return [_view(r) for r in rows]


def report_document(ctx: AppContext, view: ShapReportView) -> dict[str, Any]:
    """The archived JSON report (checksum verified by the artifact store)."""
    return json.loads(ctx.artifacts.get(ARTIFACT_KIND, view.json_sha256, "shap_report.json"))


def report_html(ctx: AppContext, view: ShapReportView) -> bytes:
    return ctx.artifacts.get(ARTIFACT_KIND, view.html_sha256, "shap_report.html")


def attribution_drift_over_time(
    ctx: AppContext,
    model: str,
    *,
    viewer: str | None = None,
    days: int | None = None,
    at: datetime | None = None,
) -> list[AttributionDriftPoint]:
    """Attribution drift of each report's window, oldest first."""
    _check_view(ctx, viewer, model)
    stmt = select(AttributionDriftResult).where(AttributionDriftResult.model == model)
    if days is not None:
        stmt = stmt.where(AttributionDriftResult.window_end >= _utc(at) - timedelta(days=days))
    with session_scope(ctx.engine) as session:
        rows = session.scalars(stmt.order_by(AttributionDriftResult.window_end, AttributionDriftResult.id))
        return [
            AttributionDriftPoint(
                report_id=r.report_id,
                model=r.model,
                version=r.version,
                created_at=aware(r.created_at) or r.created_at,
                window_start=aware(r.window_start),
                window_end=aware(r.window_end),
                distance=r.distance,
                threshold=r.threshold,
                drifted=bool(r.drifted),
                rank_changes=tuple(r.rank_changes or ()),
            )
            for r in rows
        ]


def severity_value(value: Any) -> float:
    """A drift check's severity as a non-negative number (words such as 'high' mapped to [0, 1])."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return 0.0 if math.isnan(float(value)) else max(float(value), 0.0)
    return _SEVERITY_WORDS.get(str(value).strip().lower(), 0.0)


def _latest_drift(ctx: AppContext, model: str) -> Any | None:
    try:
        from monitoring.drift import service as drift_service
    except ModuleNotFoundError:
        return None
    return drift_service.latest_run(ctx, model)


def drift_that_matters(
    ctx: AppContext, model: str, *, viewer: str | None = None, version: str | int | None = None
) -> DriftThatMattersView | None:
    """The latest drift check's features ranked by severity x importance share (None if either is missing).

    Severity is the feature's PSI in the drift check (its severity measure; the severity word
    mapped onto the PSI scale when PSI is missing), weighted by the feature's share of mean |SHAP|.
    """
    _check_view(ctx, viewer, model)
    report = current_report(ctx, model, version) if version is not None else latest_report(ctx, model)
    if report is None:
        return None
    run = _latest_drift(ctx, model)
    if run is None:
        return None
    severity: dict[str, float] = {}
    drifted: dict[str, bool] = {}
    for feature in getattr(run, "features", None) or ():
        name = _field(feature, "feature")
        if name is None:
            continue
        psi = _field(feature, "psi")
        severity[str(name)] = severity_value(psi if psi is not None else _field(feature, "severity"))
        drifted[str(name)] = bool(_field(feature, "drifted"))
    result = attr.drift_that_matters(report.importance, severity, drifted)
    return DriftThatMattersView(
        model=model,
        version=report.version,
        report_id=report.id,
        drift_checked_at=getattr(run, "at", None),
        result=result,
    )


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


# ----------------------------------------------------------------------------- per request
def explain_request(
    ctx: AppContext, actor: Actor, model: str, request_id: str, *, registry: Any | None = None
) -> Any:
    """One logged request's waterfall (see :mod:`monitoring.explain.per_request`)."""
    from monitoring.explain import per_request

    return per_request.explain_request(ctx, actor, model, request_id, registry=registry)
