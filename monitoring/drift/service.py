"""The drift service: reference profiles per model version, drift runs per window, reads.

State-changing functions take ``(ctx, actor, ...)``, check ``drift.run`` and write an audit
entry. Reads return frozen views; the Drift page and the jobs call the same functions.

- :func:`fit_reference_profile` / :func:`current_profile` (from monitoring.drift.profile_store):
  versioned profiles (a new row per fit, one current per model version).
- :func:`run_drift_check`: one window ``[at - window, at)`` of the log store against the
  champion's profile; stores the run (status ``ok``, ``no_data`` for a window without rows, or
  ``quality_failed`` when a feature has no usable value: compare()'s rules) and every
  feature's result, and an Evidently HTML report
  of the top drifted non-PII features. Re-running the same (model, window, window end)
  replaces it; a concurrent run of the same model waits ``lock_wait`` seconds, then raises
  Conflict.
- :func:`backfill`: one run per window over a range.
- Reads: :func:`latest_run`, :func:`list_runs`, :func:`get_run`, :func:`feature_results`,
  :func:`feature_history`, :func:`report_html`.
"""

from __future__ import annotations

import io
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import delete, desc, select

from core.actor import Actor
from core.config import ModelSpec
from core.db import session_scope, write_scope
from core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from core.locks import LockBusy, named_lock
from monitoring.drift.profile_store import (  # noqa: F401  (re-exported: the service's contract)
    current_profile,
    fit_and_store,
    fit_reference_profile,
    get_profile,
    list_profiles,
    load_profile,
    registry,
)
from monitoring.drift.tables import DriftFeatureResult, DriftRun, ReferenceProfileRecord
from monitoring.drift.views import (
    SEVERITY_RANK,
    DriftRunView,
    FeatureResultView,
    ProfileView,
    aware,
    feature_sort_key,
    feature_view,
    parse_window,
    profile_view,
    run_view,
)
from monitoring.drift.window_stats import (
    PREDICTION_COLUMNS,
    WindowAccumulator,
    float_or_none,
    prediction_and_performance,
    prediction_frame,
    reference_predictions,
    reference_ranges,
)
from monitoring.logs.schema import feature_column

log = logging.getLogger("vigil.drift")

LOCK_WAIT_SECONDS = 10.0
REPORT_FEATURES = 5  # top drifted features in the Evidently report

# --- locking -----------------------------------------------------------------------------------


def _holder(name: str) -> str:
    """A lock holder's description ending in ``[pid N on HOST]``."""
    suffix = f" [pid {os.getpid()} on {socket.gethostname()}]"
    return name[: 256 - len(suffix)] + suffix


@contextmanager
def model_lock(ctx: Any, model: str, holder: str, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the drift lock of ``model`` (core.locks' named lock ``drift:MODEL``, released by the
    database server or the OS when the holder dies) or raise Conflict after ``wait`` seconds."""
    try:
        lock = named_lock(ctx.engine, f"drift:{model}", wait_s=wait, holder=_holder(holder))
    except LockBusy as busy:
        raise Conflict(
            f"a drift check of {model} is already running{busy.by()}; "
            f"waited {wait:g} s; run it again when that one has finished"
        ) from None
    with lock:
        yield


# --- the check ---------------------------------------------------------------------------------


def _champion_version(ctx: Any, spec: ModelSpec, start: datetime, end: datetime) -> tuple[str | None, str]:
    problem = ""
    try:
        champion = registry(ctx).champion(spec.registered_model)
        if champion is not None:
            return str(champion.version), ""
        problem = "the registry names no champion"
    except Exception as exc:  # noqa: BLE001 - registry down or not set up
        problem = f"the registry did not answer ({type(exc).__name__}: {exc})"
    from monitoring.logs.store import read_window

    versions = read_window(ctx.settings, spec.name, start, end, columns=["version"], spec=spec).column(
        "version"
    )
    seen = sorted(
        {v for v in versions.to_pylist() if v},
        key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v),
    )
    if seen:
        return seen[-1], f"{problem}; compared the newest version seen in the window ({seen[-1]})"
    return None, problem


def _profile_for(ctx: Any, actor: Actor, spec: ModelSpec, version: str | None) -> tuple[ProfileView, str]:
    if version is not None:
        view = current_profile(ctx, spec.name, version)
        if view is not None:
            return view, ""
        try:
            return fit_and_store(
                ctx, actor, spec, version, "training", None, None
            ), f"fitted the reference profile of version {version} from its training data"
        except (NotFound, ServiceUnavailable, ImportError) as exc:
            problem = f"no profile of version {version} and its training data could not be read ({exc})"
    else:
        problem = "no version could be determined"
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ReferenceProfileRecord)
            .where(ReferenceProfileRecord.model == spec.name, ReferenceProfileRecord.is_current.is_(True))
            .order_by(desc(ReferenceProfileRecord.id))
            .limit(1)
        ).first()
        fallback = profile_view(row) if row else None
    if fallback is None:
        raise NotFound(
            f"{spec.name}: {problem}, and no stored reference profile exists; fit one with "
            "fit_reference_profile (source training or a window of logs)"
        )
    return fallback, f"{problem}; used the newest profile (version {fallback.version})"


def _batches(
    ctx: Any, spec: ModelSpec, start: datetime, end: datetime, acc: WindowAccumulator
) -> Iterator[pd.DataFrame]:
    from monitoring.logs.store import iter_window_batches

    columns = [feature_column(f.name) for f in spec.features] + list(PREDICTION_COLUMNS)
    rename = {feature_column(f.name): f.name for f in spec.features}
    for batch in iter_window_batches(ctx.settings, spec.name, start, end, columns=columns, spec=spec):
        frame = batch.to_pandas().rename(columns=rename)
        acc.add(frame)
        yield frame[[f.name for f in spec.features]]


def _report_artifact(
    ctx: Any,
    spec: ModelSpec,
    profile: ProfileView,
    current: pd.DataFrame,
    features: list[FeatureResultView],
    window_end: datetime,
) -> tuple[str | None, str | None, str]:
    """Save the Evidently report of the top drifted non-PII features; (sha, name, note)."""
    from monitoring.drift.report import build_report_html

    pii = set(spec.pii_features)
    ranked = [f.feature for f in sorted(features, key=feature_sort_key) if f.feature not in pii]
    chosen = ranked[:REPORT_FEATURES]
    if not chosen or current.empty or not profile.sample_sha256:
        return None, None, ""
    try:
        ref_bytes = ctx.artifacts.get(
            "profiles", profile.sample_sha256, f"{spec.name}-v{profile.version}-sample.parquet"
        )
        reference = pd.read_parquet(io.BytesIO(ref_bytes))
        chosen = [c for c in chosen if c in reference.columns]
        categorical = [c for c in chosen if c in spec.categorical_features]
        html = build_report_html(
            reference[chosen],
            current[chosen],
            numeric=[c for c in chosen if c not in categorical],
            categorical=categorical,
            title=f"{spec.name} drift, window ending {window_end:%Y-%m-%d %H:%M} UTC",
        )
    except Exception as exc:  # noqa: BLE001 - the report is an extra: the run stands without it
        log.warning("%s: Evidently report failed: %s", spec.name, exc)
        return None, None, f"Evidently report failed ({type(exc).__name__}: {exc})"
    name = f"{spec.name}-drift-{window_end:%Y%m%dT%H%M%SZ}.html"
    stored = ctx.artifacts.put("reports", name, html)
    return stored.sha256, stored.name, ""


def _execute(
    ctx: Any, actor: Actor, spec: ModelSpec, window: str, start: datetime, end: datetime, report: bool
) -> DriftRunView:
    from monitoring.drift.compare import compare

    notes: list[str] = []
    version, note = _champion_version(ctx, spec, start, end)
    if note:
        notes.append(note)
    prof, note = _profile_for(ctx, actor, spec, version)
    if note:
        notes.append(note)
    profile = load_profile(ctx, prof)
    th = spec.thresholds
    acc = WindowAccumulator(spec=spec, charts=prof.charts, ranges=reference_ranges(profile))
    batches = _batches(ctx, spec, start, end, acc)
    first = next(batches, None)
    results: list[FeatureResultView] = []
    drift = None
    if first is not None:

        def _all() -> Iterator[pd.DataFrame]:
            yield first
            yield from batches

        drift = compare(
            profile,
            _all(),
            alpha=th.drift_alpha,
            correction=th.multiple_testing,
            min_effect_ks=th.min_effect_ks,
            min_effect_psi=th.min_effect_psi,
        )
        for f in drift.features:
            results.append(
                FeatureResultView(
                    f.feature,
                    f.kind,
                    float_or_none(f.ks_statistic),
                    float_or_none(f.ks_pvalue),
                    float_or_none(getattr(f, "ks_error_bound", None)),
                    float_or_none(f.chi2_statistic),
                    float_or_none(f.chi2_pvalue),
                    float_or_none(f.psi),
                    float_or_none(f.p_value_adjusted),
                    bool(f.drifted),
                    str(f.severity or "none"),
                    float_or_none(f.missing_share_reference),
                    float_or_none(f.missing_share_current),
                    acc.histogram(f.feature),
                )
            )
    current_predictions = prediction_frame(acc.predictions)
    prediction: dict[str, Any] = {}
    performance: dict[str, Any] = {}
    if not current_predictions.empty:
        try:
            baseline_frame, baseline = reference_predictions(ctx, spec, prof, end - start)
            prediction, performance = prediction_and_performance(
                spec, current_predictions, baseline_frame, baseline, {"bins": th.psi_bins}
            )
            if acc.prediction_rate < 1.0:
                prediction["sample_rate"] = acc.prediction_rate
                notes.append(
                    f"prediction figures from a {acc.prediction_rate:.2%} uniform sample of the rows"
                )
        except Exception as exc:  # noqa: BLE001 - prediction figures are extras: the feature results stand
            log.warning("%s: prediction drift failed: %s", spec.name, exc)
            notes.append(f"prediction drift failed ({type(exc).__name__}: {exc})")
    quality: dict[str, Any] = {}
    if acc.rows:
        quality = {
            "rows": acc.rows,
            "missing_share": {k: v / acc.rows for k, v in acc.missing.items()},
            "out_of_range_share": {k: v / acc.rows for k, v in acc.out_of_range.items()},
            "max_missing_share": th.max_missing_share,
        }
        if drift is not None:  # compare()'s rules: an all-missing feature is a data-quality failure
            feats = drift.features
            quality["non_finite"] = {f.feature: f.non_finite_current for f in feats if f.non_finite_current}
            quality["data_quality"] = {f.feature: f.data_quality for f in feats if f.data_quality != "ok"}
            quality["data_quality_failures"] = list(drift.data_quality_failures)
    sha = name = None
    if report and results:
        sha, name, note = _report_artifact(ctx, spec, prof, acc.sample(), results, end)
        if note:
            notes.append(note)
    drifted = sum(1 for f in results if f.drifted)
    worst = max((f.severity for f in results), key=lambda s: SEVERITY_RANK.get(s, 0), default="none")
    with write_scope(ctx.engine) as session:
        old = select(DriftRun.id).where(
            DriftRun.model == spec.name, DriftRun.window == window, DriftRun.window_end == end
        )
        session.execute(delete(DriftFeatureResult).where(DriftFeatureResult.run_id.in_(old)))
        session.execute(
            delete(DriftRun).where(
                DriftRun.model == spec.name, DriftRun.window == window, DriftRun.window_end == end
            )
        )
        row = DriftRun(
            model=spec.name,
            version=version or prof.version,
            window=window,
            window_start=start,
            window_end=end,
            at=datetime.now(UTC),
            status=drift.status if drift is not None and results else "no_data",
            rows=acc.rows,
            rows_reference=int(getattr(drift, "rows_reference", prof.rows) if drift else prof.rows),
            features_tested=len(results),
            drifted_features=drifted,
            share_drifted=drifted / len(results) if results else 0.0,
            max_severity=worst,
            dataset_drift=bool(drift.dataset_drift) if drift else False,
            profile_id=prof.id,
            report_sha256=sha,
            report_name=name,
            note="; ".join(notes)[:4000],
            created_by=actor.username,
            prediction=prediction,
            performance=performance,
            quality=quality,
        )
        session.add(row)
        session.flush()
        rows = [
            DriftFeatureResult(
                run_id=row.id,
                feature=f.feature,
                kind=f.kind,
                ks_statistic=f.ks_statistic,
                ks_pvalue=f.ks_pvalue,
                ks_error_bound=f.ks_error_bound,
                chi2_statistic=f.chi2_statistic,
                chi2_pvalue=f.chi2_pvalue,
                psi=f.psi,
                p_value_adjusted=f.p_value_adjusted,
                drifted=f.drifted,
                severity=f.severity,
                missing_share_reference=f.missing_share_reference,
                missing_share_current=f.missing_share_current,
                histogram=f.histogram,
            )
            for f in results
        ]
        session.add_all(rows)
        session.flush()
        return run_view(row, rows)


def run_drift_check(
    ctx: Any,
    actor: Actor,
    model: str,
    *,
    window: str = "1d",
    at: datetime | None = None,
    report: bool = True,
    lock_wait: float = LOCK_WAIT_SECONDS,
    record_job: bool = True,
) -> DriftRunView:
    """Compare the window ``[at - window, at)`` of ``model``'s logs with its champion's profile.

    ``at`` defaults to now (whole seconds, UTC). Stores the run and its feature results,
    replacing an earlier run of the same (model, window, window end). Raises Conflict when
    another check of the model holds the lock for longer than ``lock_wait`` seconds. With
    ``record_job`` (default) the check is also recorded as a job run ``drift`` (core.runs).
    """
    if record_job:
        from core.runs import record_run

        with record_run(ctx.engine, "drift", model=model, actor=actor.username) as job:
            view = run_drift_check(
                ctx, actor, model, window=window, at=at, report=report, lock_wait=lock_wait, record_job=False
            )
            job.message = (
                f"window {window} ending {view.window_end:%Y-%m-%d %H:%M} UTC: {view.rows} rows, "
                f"{view.drifted_features} of {view.features_tested} features drifted"
            )
            job.details = {"drift_run_id": view.id, "status": view.status, "max_severity": view.max_severity}
        return view
    from governance.rbac import require

    spec = ctx.models.get(model)
    delta = parse_window(window)
    require(ctx, actor, "drift.run", model)
    end = aware(at).replace(microsecond=0) if at is not None else datetime.now(UTC).replace(microsecond=0)  # type: ignore[union-attr]
    start = end - delta
    details: dict[str, Any] = {
        "window": window,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }
    try:
        with model_lock(ctx, model, f"{actor.describe()} {window}@{end.isoformat()}", wait=lock_wait):
            view = _execute(ctx, actor, spec, window, start, end, report)
    except Exception as exc:
        ctx.audit.append(
            actor, "drift.run", model, "failed", reason=f"{type(exc).__name__}: {exc}", details=details
        )
        raise
    details.update(
        run_id=view.id,
        version=view.version,
        rows=view.rows,
        status=view.status,
        drifted_features=view.drifted_features,
        max_severity=view.max_severity,
        report_sha256=view.report_sha256,
    )
    ctx.audit.append(actor, "drift.run", model, "success", details=details)
    return view


def backfill(
    ctx: Any,
    actor: Actor,
    model: str,
    start: datetime,
    end: datetime,
    window: str = "1d",
    *,
    report: str = "last",
) -> list[DriftRunView]:
    """One run per window ending at ``start + k * window`` (k >= 1) up to ``end``.

    ``report``: ``"all"`` builds the Evidently report for every window, ``"last"`` (default)
    only for the newest one, ``"none"`` for none.
    """
    delta = parse_window(window)
    start, end = aware(start), aware(end)
    if start is None or end is None or end <= start:
        raise InvalidInput("backfill needs start < end")
    ends: list[datetime] = []
    moment = start + delta
    while moment <= end:
        ends.append(moment)
        moment += delta
    from core.runs import record_run

    out: list[DriftRunView] = []
    with record_run(ctx.engine, "drift", model=model, actor=actor.username) as job:
        for i, moment in enumerate(ends):
            want = report == "all" or (report == "last" and i == len(ends) - 1)
            out.append(
                run_drift_check(ctx, actor, model, window=window, at=moment, report=want, record_job=False)
            )
        job.message = f"backfill of {len(out)} windows of {window} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        job.details = {"drift_run_ids": [v.id for v in out]}
    return out


# --- reads -------------------------------------------------------------------------------------


def _features_of(session: Any, run_id: int) -> list[DriftFeatureResult]:
    return list(session.scalars(select(DriftFeatureResult).where(DriftFeatureResult.run_id == run_id)))


def latest_run(ctx: Any, model: str, *, window: str | None = None, viewer: str | None = None) -> DriftRunView | None:
    """The run with the newest window end of ``model`` (of ``window`` length when given).

    With ``viewer``, the read is refused unless that user may view the model (as for every read below)."""
    from governance.rbac import require_view

    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(DriftRun).where(DriftRun.model == model)
        if window:
            stmt = stmt.where(DriftRun.window == window)
        row = session.scalars(stmt.order_by(desc(DriftRun.window_end), desc(DriftRun.id)).limit(1)).first()
        return run_view(row, _features_of(session, row.id)) if row else None


def get_run(ctx: Any, run_id: int) -> DriftRunView | None:
    with session_scope(ctx.engine) as session:
        row = session.get(DriftRun, run_id)
        return run_view(row, _features_of(session, row.id)) if row else None


def list_runs(
    ctx: Any, model: str, *, window: str | None = None, since: datetime | None = None, limit: int = 1000,
    viewer: str | None = None,
) -> list[DriftRunView]:
    """Runs of ``model``, oldest window first, without their feature rows."""
    from governance.rbac import require_view

    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(DriftRun).where(DriftRun.model == model)
        if window:
            stmt = stmt.where(DriftRun.window == window)
        if since is not None:
            stmt = stmt.where(DriftRun.window_end >= aware(since))
        rows = list(session.scalars(stmt.order_by(desc(DriftRun.window_end)).limit(limit)))
        return [run_view(r) for r in reversed(rows)]


def feature_results(ctx: Any, run_id: int) -> list[FeatureResultView]:
    """The feature rows of one run, most severe first."""
    with session_scope(ctx.engine) as session:
        return sorted((feature_view(r) for r in _features_of(session, run_id)), key=feature_sort_key)


def feature_history(
    ctx: Any, model: str, days: int = 30, *, window: str | None = None, viewer: str | None = None
) -> pd.DataFrame:
    """Feature x window results over the ``days`` before the newest run (long form).

    Columns: window_end, feature, psi, ks_statistic, p_value_adjusted, drifted, severity. Only
    runs of one window length are included (``window``, default that of the newest run), and of
    the runs whose window ends fall in the same window-length bucket only the newest.
    """
    columns = ["window_end", "feature", "psi", "ks_statistic", "p_value_adjusted", "drifted", "severity"]
    newest = latest_run(ctx, model, window=window, viewer=viewer)
    if newest is None:
        return pd.DataFrame(columns=columns)
    window = window or newest.window
    since = newest.window_end - timedelta(days=days)
    with session_scope(ctx.engine) as session:
        stmt = (
            select(
                DriftRun.window_end,
                DriftFeatureResult.feature,
                DriftFeatureResult.psi,
                DriftFeatureResult.ks_statistic,
                DriftFeatureResult.p_value_adjusted,
                DriftFeatureResult.drifted,
                DriftFeatureResult.severity,
            )
            .join(DriftFeatureResult, DriftFeatureResult.run_id == DriftRun.id)
            .where(DriftRun.model == model, DriftRun.window == window, DriftRun.window_end > since)
            .order_by(DriftRun.window_end)
        )
        rows = [tuple(r) for r in session.execute(stmt)]
    frame = pd.DataFrame(rows, columns=columns)
    if not frame.empty:
        frame["window_end"] = pd.to_datetime(frame["window_end"], utc=True)
        frame["drifted"] = frame["drifted"].astype(bool)
        # Cron runs every few minutes over a sliding window: keep the newest run per window length.
        bucket = frame["window_end"].dt.floor(pd.Timedelta(parse_window(window)))
        newest = frame.groupby(bucket)["window_end"].transform("max")
        frame = frame[frame["window_end"] == newest].reset_index(drop=True)
    return frame


def report_html(ctx: Any, run: DriftRunView) -> bytes | None:
    """The stored Evidently report of ``run`` (None when it has none)."""
    if not run.report_sha256 or not run.report_name:
        return None
    return ctx.artifacts.get("reports", run.report_sha256, run.report_name)
