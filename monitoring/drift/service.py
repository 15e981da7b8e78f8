"""The drift service's entry points: the drift check and the backfill (as governed job runs),
the per-model lock, and the public names of the drift domain re-exported in one place.

State-changing functions take ``(ctx, actor, ...)`` and run through
governance.runner.governed_run: permission ``drift.run`` checked first, then the job-run record,
timing and the audit entry of the outcome. Reads return frozen views and take the viewer. The
work is split by job, each module saying what it owns:

- monitoring.drift.resolution: which version and reference profile a check compares with;
- monitoring.drift.pipeline: the computation of one window (engine, side statistics, report);
- monitoring.drift.persistence: storing a run, its features and its long-form method rows;
- monitoring.drift.reads: every read (latest_run, list_runs, get_run, feature_results,
  feature_history, report_html, run_series, quarantine, can_view_pii);
- monitoring.drift.profile_store: versioned reference profiles (fit_reference_profile,
  current_profile, ...).

:func:`run_drift_check` compares one window ``[at - window, at)`` of the log store with the
champion's profile and stores the run (status ``ok``, ``no_data`` for a window without rows, or
``quality_failed`` when a feature has no usable value: compare()'s rules), its features' results
and an Evidently HTML report of the top drifted non-PII features. Re-running the same (model,
window, window end) replaces it; a concurrent run of the same model waits ``lock_wait`` seconds,
then raises Conflict. :func:`backfill`: one recorded job run, one window per inner step.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.actor import Actor
from core.errors import Conflict, InvalidInput
from core.locks import LockBusy, named_lock
from monitoring.drift.pipeline import REPORT_FEATURES, compute_window  # noqa: F401  (re-exported)
from monitoring.drift.persistence import store_run
from monitoring.drift.profile_store import (  # noqa: F401  (re-exported: the service's contract)
    current_profile,
    fit_and_store,
    fit_reference_profile,
    get_profile,
    list_profiles,
    load_profile,
    registry,
)
from monitoring.drift.reads import (  # noqa: F401  (re-exported: the service's contract)
    can_view_pii,
    feature_history,
    feature_results,
    get_run,
    latest_run,
    list_runs,
    quality_table,
    quarantine,
    report_html,
    run_series,
    series_frame,
)
from monitoring.drift.results import FeatureSummary, MethodResult  # noqa: F401  (re-exported)
from monitoring.drift.views import DriftRunView, ProfileView, aware, parse_window  # noqa: F401

log = logging.getLogger("vigil.drift")

LOCK_WAIT_SECONDS = 10.0

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


def _check_window(
    ctx: Any, actor: Actor, model: str, window: str, end: datetime, report: bool, lock_wait: float
) -> DriftRunView:
    spec = ctx.models.get(model)
    start = end - parse_window(window)
    with model_lock(ctx, model, f"{actor.describe()} {window}@{end.isoformat()}", wait=lock_wait):
        run, features = compute_window(ctx, actor, spec, window, start, end, report)
        return store_run(ctx, run, features)


def _window_end(at: datetime | None) -> datetime:
    return aware(at).replace(microsecond=0) if at is not None else datetime.now(UTC).replace(microsecond=0)  # type: ignore[union-attr]


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
    another check of the model holds the lock for longer than ``lock_wait`` seconds. Runs through
    governed_run: ``drift.run`` checked first; with ``record_job`` (default) recorded as a job
    run ``drift`` (core.runs); audited either way.
    """
    from governance.runner import governed_run

    ctx.models.get(model)  # an unknown model is NotFound before anything else
    delta = parse_window(window)
    end = _window_end(at)
    asked = {"window": window, "window_start": (end - delta).isoformat(), "window_end": end.isoformat()}
    with governed_run(ctx, actor, "drift.run", model, job="drift", record=record_job,
                      failure_details=asked) as run:
        view = _check_window(ctx, actor, model, window, end, report, lock_wait)
        run.message = (
            f"window {window} ending {view.window_end:%Y-%m-%d %H:%M} UTC: {view.rows} rows, "
            f"{view.drifted_features} of {view.features_tested} features drifted"
        )
        run.details = {"drift_run_id": view.id, "status": view.status, "max_severity": view.max_severity}
        run.audit = {**asked, "run_id": view.id, "version": view.version, "rows": view.rows,
                     "status": view.status, "drifted_features": view.drifted_features,
                     "max_severity": view.max_severity, "report_sha256": view.report_sha256}
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
    """One run per window ending at ``start + k * window`` (k >= 1) up to ``end``: one recorded
    job run, each window an inner governed step (checked and audited, not recorded).

    ``report``: ``"all"`` builds the Evidently report for every window, ``"last"`` (default)
    only for the newest one, ``"none"`` for none.
    """
    from governance.runner import governed_run

    delta = parse_window(window)
    start, end = aware(start), aware(end)
    if start is None or end is None or end <= start:
        raise InvalidInput("backfill needs start < end")
    ends: list[datetime] = []
    moment = start + delta
    while moment <= end:
        ends.append(moment)
        moment += delta
    out: list[DriftRunView] = []
    with governed_run(ctx, actor, "drift.run", model, job="drift",
                      failure_details={"backfill": window, "start": start.isoformat(), "end": end.isoformat()}) as job:
        for i, moment in enumerate(ends):
            want = report == "all" or (report == "last" and i == len(ends) - 1)
            out.append(
                run_drift_check(ctx, actor, model, window=window, at=moment, report=want, record_job=False)
            )
        job.message = f"backfill of {len(out)} windows of {window} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        job.details = {"drift_run_ids": [v.id for v in out]}
        job.audit = {"backfill": window, "windows": len(out), "run_ids": [v.id for v in out]}
    return out
