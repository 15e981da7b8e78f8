"""The one writer of SHAP reports: :func:`run_shap_report` (job ``shap``, the demo) explains a
model version on the recent window of logs and stores the result.

It runs as a governed job (:func:`governance.runner.governed_run`: ``shap.run`` checked first,
a job run ``shap`` recorded, timed, the outcome audited) in these steps:

1. plan: the version (default: the champion), the window ``[at - window, at)`` and the sizes;
2. samples: a background from the version's reference data, and the rows to explain from the
   logged window (a reference sample when the window has no complete rows, and the report says
   so);
3. explain: SHAP values of the sample, and the reference importance the window is compared with
   (reused from an earlier report on the same samples when there is one);
4. build: global importance with intervals, beeswarm points and attribution drift;
5. archive: JSON and HTML report and the background rows in the artifact store, a copy in MLflow;
6. store: a ``shap_reports`` row (the newest per version is current) and the window's
   ``attribution_drift_results`` row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import desc, select, update

from core.actor import Actor
from core.context import AppContext
from core.db import session_scope, write_scope
from core.errors import InvalidInput, VigilError
from core.timeutil import parse_window, utc_or_now
from governance.runner import governed_run
from monitoring.explain import archive, inputs, runner
from monitoring.explain import attribution as attr
from monitoring.explain import importance as imp
from monitoring.explain import report as rep
from monitoring.explain.tables import AttributionDriftResult, ShapReport
from monitoring.explain.views import ShapReportView, reference_vector, report_view

log = logging.getLogger(__name__)

ACTION = "shap.run"
JOB = "shap"


@dataclass(frozen=True)
class _Plan:
    """What one report explains: which version, which window, how many rows."""

    spec: Any
    registry: Any
    version: str
    window: str
    start: datetime
    end: datetime
    background: int
    explain: int
    seed: int
    max_evals: int

    @property
    def features(self) -> list[str]:
        return list(self.spec.numeric_features)


@dataclass(frozen=True)
class _Samples:
    background: np.ndarray
    reference: np.ndarray  # the reference rows that are explained for the reference importance
    current: np.ndarray | None  # the window's rows to explain; None: the window had none

    @property
    def source(self) -> str:
        return "window" if self.current is not None else "reference"


@dataclass(frozen=True)
class _Explained:
    result: runner.Explanation
    reference_vector: dict[str, float]  # the reference importance (the result's own without a window)
    importance: imp.ImportanceResult
    drift: attr.AttributionDrift | None  # only when a window was explained


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
    record_job: bool = True,
) -> ShapReportView:
    """Explain ``version`` (default: the champion) on the recent window and archive the report.

    Runs as ``actor``'s ``shap.run`` on ``model`` through the shared job runner; with
    ``record_job=False`` (a caller that records its own run) no job-run row is written. An error
    that is not a project error is reported as a VigilError naming the model (exit code 1).
    """
    failure = {"version": None if version is None else str(version), "window": window}
    try:
        with governed_run(
            ctx, actor, ACTION, model, job=JOB, record=record_job, failure_details=failure
        ) as run:
            plan = _plan(ctx, model, version, window, at, background, explain, seed, max_evals, registry)
            view = _explain_and_store(ctx, actor, plan)
            run.message = (
                f"SHAP report {view.id} of v{view.version}: {view.explainer} on {view.device}, "
                f"{view.explained_rows} rows from the {view.sample_source}"
            )
            run.details = {
                "version": view.version,
                "report_id": view.id,
                "explainer": view.explainer,
                "device": view.device,
                "rows": view.explained_rows,
                "runtime_s": round(view.runtime_s, 3),
                "additivity_ok": view.additivity_ok,
                "json_sha256": view.json_sha256,
            }
            run.audit = {
                "version": view.version,
                "report_id": view.id,
                "json_sha256": view.json_sha256,
                "html_sha256": view.html_sha256,
                "explainer": view.explainer,
                "device": view.device,
                "sample_source": view.sample_source,
                "additivity_ok": view.additivity_ok,
            }
    except VigilError:
        raise
    except Exception as exc:
        raise VigilError(f"SHAP report for {model} failed: {type(exc).__name__}: {exc}") from exc
    return view


def _explain_and_store(ctx: AppContext, actor: Actor, plan: _Plan) -> ShapReportView:
    notes: list[str] = []
    loaded = plan.registry.load_model(plan.spec.registered_model, plan.version)
    samples = _samples(ctx, plan, notes)
    explained = _explain(ctx, plan, loaded, samples, notes)
    created = datetime.now(UTC)
    content = _content(plan, samples, explained, created, notes)
    report_json, report_html = rep.to_json_bytes(content), rep.to_html_bytes(content)
    archived = archive.store_files(ctx, report_json, report_html, samples.background)
    problem = archive.log_to_mlflow(
        plan.registry, plan.spec.registered_model, plan.version, report_json, report_html
    )
    if problem:
        notes.append(problem)
    view = _store(ctx, actor, plan, samples, explained, archived, created, notes, logged=problem is None)
    log.info(
        "SHAP report %s for %s v%s: %s on %s, %d rows, %.2f s",
        view.id,
        plan.spec.name,
        plan.version,
        view.explainer,
        view.device,
        view.explained_rows,
        view.runtime_s,
    )
    return view


# ----------------------------------------------------------------------------- 1. plan
def _plan(
    ctx: AppContext,
    model: str,
    version: str | int | None,
    window: str,
    at: datetime | None,
    background: int,
    explain: int,
    seed: int,
    max_evals: int,
    registry: Any | None,
) -> _Plan:
    if background < 1 or explain < 1:
        raise InvalidInput("background and explain sample sizes must be at least 1")
    spec = ctx.models.get(model)
    span = parse_window(window)
    end = utc_or_now(at)
    reg = inputs.registry_for(ctx, registry)
    return _Plan(
        spec=spec,
        registry=reg,
        version=inputs.resolve_version(reg, spec.registered_model, version),
        window=window,
        start=end - span,
        end=end,
        background=background,
        explain=explain,
        seed=seed,
        max_evals=max_evals,
    )


# ----------------------------------------------------------------------------- 2. samples
def _samples(ctx: AppContext, plan: _Plan, notes: list[str]) -> _Samples:
    reference = inputs.reference_matrix(plan.registry, plan.spec, plan.version)
    background = inputs.sample_rows(reference, plan.background, np.random.default_rng(plan.seed))
    if len(background) < plan.background:
        notes.append(
            f"reference has only {len(background)} complete rows for a background of {plan.background}"
        )
    current = _window_sample(ctx, plan, notes)
    reference_rows = inputs.sample_rows(reference, plan.explain, np.random.default_rng(plan.seed + 2))
    return _Samples(background=background, reference=reference_rows, current=current)


def _window_sample(ctx: AppContext, plan: _Plan, notes: list[str]) -> np.ndarray | None:
    """Up to ``plan.explain`` complete logged rows of the window (None, with a note, when none)."""
    frame = inputs.read_window(ctx, plan.spec.name, plan.start, plan.end, [f"f_{f}" for f in plan.features])
    if frame is None:
        notes.append("no log store in this build: explained a reference sample")
        return None
    if len(frame) == 0:
        notes.append(
            f"no logged rows in the window {plan.start:%Y-%m-%d %H:%M} to {plan.end:%Y-%m-%d %H:%M} UTC: "
            "explained a reference sample instead"
        )
        return None
    matrix = inputs.numeric_matrix(
        frame.rename(columns=lambda c: c.removeprefix("f_")), plan.features, "the log window"
    )
    dropped = len(frame) - len(matrix)
    if dropped:
        notes.append(f"{dropped} logged rows with missing feature values were left out")
    if not len(matrix):
        notes.append("no complete logged rows in the window: explained a reference sample instead")
        return None
    return inputs.sample_rows(matrix, plan.explain, np.random.default_rng(plan.seed + 1))


# ----------------------------------------------------------------------------- 3-4. explain, build
def _explain(ctx: AppContext, plan: _Plan, loaded: Any, samples: _Samples, notes: list[str]) -> _Explained:
    prepared = runner.prepare(
        loaded,
        samples.background,
        plan.features,
        task=plan.spec.task,
        max_evals=plan.max_evals,
        seed=plan.seed,
    )
    if samples.current is not None:
        result = runner.explain(prepared, samples.current, seed=plan.seed)
        ref_vector = _reusable_reference(ctx, plan, len(samples.background), len(samples.reference))
        if ref_vector is None:
            ref_values = runner.explain(prepared, samples.reference, seed=plan.seed).values
            ref_vector = imp.global_importance(ref_values, plan.features, n_boot=0).vector()
    else:
        result = runner.explain(prepared, samples.reference, seed=plan.seed)
        ref_vector = None
    notes.extend(result.notes)
    if not result.additivity_ok:
        notes.append(
            f"additivity check failed: max error {result.additivity_max_error:.3g} > "
            f"tolerance {result.additivity_tolerance:.3g}"
        )
    importance = imp.global_importance(result.values, plan.features, seed=plan.seed)
    drift = None
    if ref_vector is not None:
        threshold = plan.spec.thresholds.attribution_drift
        drift = attr.attribution_drift(ref_vector, importance.vector(), threshold=threshold)
    return _Explained(
        result=result,
        reference_vector=ref_vector if ref_vector is not None else importance.vector(),
        importance=importance,
        drift=drift,
    )


def _reusable_reference(
    ctx: AppContext, plan: _Plan, background_rows: int, reference_rows: int
) -> dict[str, float] | None:
    """The reference importance of an earlier report on the same version and samples, if any."""
    with session_scope(ctx.engine) as session:
        rows = session.scalars(
            select(ShapReport)
            .where(
                ShapReport.model == plan.spec.name,
                ShapReport.version == plan.version,
                ShapReport.seed == plan.seed,
                ShapReport.background_rows == background_rows,
            )
            .order_by(desc(ShapReport.id))
            .limit(5)
        )
        for row in rows:
            if (row.reference_importance or {}).get("rows") == reference_rows and reference_vector(row):
                return reference_vector(row)
    return None


def _content(
    plan: _Plan, samples: _Samples, explained: _Explained, created: datetime, notes: list[str]
) -> rep.ReportContent:
    result, importance = explained.result, explained.importance
    in_window = samples.source == "window"
    beeswarm = imp.beeswarm_data(
        result.values,
        result.data,
        plan.features,
        features=[f.feature for f in importance.features],
        seed=plan.seed,
    )
    return rep.ReportContent(
        model=plan.spec.name,
        version=plan.version,
        registered_model=plan.spec.registered_model,
        created_at=created.isoformat(),
        window=plan.window,
        window_start=plan.start.isoformat() if in_window else None,
        window_end=plan.end.isoformat() if in_window else None,
        sample_source=samples.source,
        explainer=result.explainer,
        device=result.device,
        background_rows=result.background_rows,
        explained_rows=result.rows,
        seed=plan.seed,
        runtime_s=result.runtime_s,
        additivity_max_error=result.additivity_max_error,
        additivity_tolerance=result.additivity_tolerance,
        base_value=result.base_value,
        importance=importance,
        beeswarm=beeswarm,
        attribution=explained.drift.to_json_dict() if explained.drift else None,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- 6. store
def _store(
    ctx: AppContext,
    actor: Actor,
    plan: _Plan,
    samples: _Samples,
    explained: _Explained,
    archived: archive.ArchivedReport,
    created: datetime,
    notes: list[str],
    *,
    logged: bool,
) -> ShapReportView:
    """The report row (now the version's current one) and the window's attribution drift row."""
    model, result, drift = plan.spec.name, explained.result, explained.drift
    in_window = samples.source == "window"
    with write_scope(ctx.engine) as session:
        session.execute(
            update(ShapReport)
            .where(
                ShapReport.model == model,
                ShapReport.version == plan.version,
                ShapReport.is_current.is_(True),
            )
            .values(is_current=False)
        )
        row = ShapReport(
            model=model,
            version=plan.version,
            window=plan.window,
            window_start=plan.start if in_window else None,
            window_end=plan.end if in_window else None,
            created_at=created,
            actor=actor.username,
            sample_source=samples.source,
            explainer=result.explainer,
            device=result.device,
            background_rows=result.background_rows,
            explained_rows=result.rows,
            seed=plan.seed,
            runtime_s=float(result.runtime_s),
            additivity_max_error=float(result.additivity_max_error),
            additivity_tolerance=float(result.additivity_tolerance),
            additivity_ok=result.additivity_ok,
            json_sha256=archived.json_sha256,
            json_size=archived.json_size,
            html_sha256=archived.html_sha256,
            html_size=archived.html_size,
            background_sha256=archived.background_sha256,
            importance=explained.importance.vector(),
            reference_importance={"rows": len(samples.reference), "vector": explained.reference_vector},
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
                    version=plan.version,
                    created_at=created,
                    window_start=plan.start,
                    window_end=plan.end,
                    distance=drift.distance,
                    threshold=drift.threshold,
                    drifted=drift.drifted,
                    rank_changes=[{**c.__dict__, "change": c.change} for c in drift.changes],
                )
            )
        return report_view(row)
