"""The monitoring half of the demo build: the same jobs cron would run, over the timeline.

Each function is one demo step. They call the same services as ``jobs.ingest``,
``jobs.drift``, ``jobs.slo``, ``jobs.health`` and ``jobs.shap``, acting as the scheduler's
service account, so the demo's results are stored, permission-checked and audited exactly as
production results are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.actor import Actor

Progress = Callable[[str], None]


def _job_actor(ctx: Any) -> Actor:
    from jobs._identity import os_identity  # the demo is built by jobs.demo: record who ran it, where

    return Actor(ctx.settings.job_user, "job", os_identity())


def ingest(ctx: Any, progress: Progress) -> dict[str, Any]:
    """Ingest every model's log files (bad records go to the quarantine)."""
    from monitoring.logs.ingest import ingest_model

    out: dict[str, Any] = {}
    for name in ctx.models.names:
        result = ingest_model(ctx, _job_actor(ctx), name)
        progress(f"  {name}: {result.line()}")
        out[name] = result.details()
    return out


def drift(ctx: Any, anchor: datetime, progress: Progress) -> dict[str, Any]:
    """Daily drift windows over the whole timeline, so the incident shows day by day."""
    from demo import timeline_bounds
    from monitoring.drift.service import backfill

    start, _ = timeline_bounds(anchor)
    out: dict[str, Any] = {}
    for name in ctx.models.names:
        runs = backfill(ctx, _job_actor(ctx), name, start, anchor, window="1d", report="last")
        drifted_days = [r.window_end.date().isoformat() for r in runs if r.dataset_drift]
        progress(f"  {name}: {len(runs)} daily windows, drift on {len(drifted_days)} of them")
        out[name] = {"windows": len(runs), "drifted_windows": drifted_days}
    return out


def slo(ctx: Any, anchor: datetime, progress: Progress) -> dict[str, Any]:
    """SLOs and error budgets from the logs at the anchor, with the hourly series."""
    from monitoring.slo.service import run_slo_check

    out: dict[str, Any] = {}
    for name in ctx.models.names:
        snapshots = run_slo_check(ctx, _job_actor(ctx), name, at=anchor, with_series=True)
        progress(f"  {name}: {len(snapshots)} SLOs evaluated")
        out[name] = {"slos": len(snapshots)}
    return out


def health(ctx: Any, anchor: datetime, progress: Progress, *, every_hours: int = 12,
           days: int = 10) -> dict[str, Any]:
    """Health snapshots every ``every_hours`` over the last ``days``, hourly through each
    latency/error incident and the hours after it, and one at the anchor.

    The series lets the Overview show the score dropping during the incident and why.
    Notifications are off for the replayed past.
    """
    from demo import incidents_for
    from monitoring.health.service import run_health_check

    regular = {anchor - timedelta(hours=h) for h in range(0, days * 24 + 1, every_hours)}
    out: dict[str, Any] = {}
    for name in ctx.models.names:
        moments = set(regular)
        for incident in incidents_for(name):
            if incident.kind == "latency_errors":
                start, end = incident.window(anchor)
                hour = start.replace(minute=0, second=0, microsecond=0)
                while hour <= end + timedelta(hours=3):
                    moments.add(hour)
                    hour += timedelta(hours=1)
        levels: dict[str, int] = {}
        view = None
        for moment in sorted(m for m in moments if m <= anchor):
            view, _ = run_health_check(ctx, _job_actor(ctx), name, at=moment, notify=False)
            levels[view.level] = levels.get(view.level, 0) + 1
        assert view is not None
        score = "no data" if view.score is None else f"{view.score:.0f}/100"
        progress(f"  {name}: {sum(levels.values())} snapshots ({levels}), now {view.level} ({score})")
        out[name] = {"snapshots": sum(levels.values()), "levels": levels, "final_level": view.level}
    return out


KEEP_TABLES = frozenset({"users", "sign_in_sessions", "grants", "api_tokens", "audit_log", "job_runs",
                         "alembic_version"})


def reset_monitoring(ctx: Any, progress: Progress) -> list[str]:
    """Forget derived monitoring state before a rebuild (``--force``): the log store, the
    quarantine, the ingest ledger and every stored result. Accounts, grants, API tokens, job
    runs and the audit log are kept: the audit log is append-only and the rebuild itself is
    audited (by demo.actions.reset_demo, which checks the permission). Returns what was cleared."""
    from sqlalchemy import delete

    from core.db import Base, import_all_tables, write_scope
    from core.storage import logstore_location, quarantine_location

    for location in (logstore_location(ctx.settings), quarantine_location(ctx.settings)):
        location.clear()  # a local directory or an object-store prefix (core.storage)
    import_all_tables()
    cleared = []
    with write_scope(ctx.engine) as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                session.execute(delete(table))
                cleared.append(table.name)
    progress("cleared the log store, the quarantine and stored monitoring results")
    return ["logstore", "quarantine", *sorted(cleared)]


def shap(ctx: Any, anchor: datetime, progress: Progress, *, first_day: int = 16,
         explain: int = 300, background: int = 50) -> dict[str, Any]:
    """An archived SHAP report for every registered version (on the last day's traffic), then
    the champion's report for each day from ``first_day`` on, so that attribution drift shows
    the drift incident day by day."""
    from core.runs import record_run
    from governance.registry import ModelRegistry

    registry = ModelRegistry(ctx.settings.mlflow_tracking_uri)
    out: dict[str, Any] = {}
    for spec in ctx.models.models:
        with record_run(ctx.engine, "shap", model=spec.name, actor=ctx.settings.job_user) as run:
            out[spec.name] = _shap_model(ctx, registry, spec, anchor, first_day=first_day,
                                         explain=explain, background=background)
            run.message = f"{out[spec.name]['reports']} SHAP reports"
            run.details = out[spec.name]
        progress(f"  {spec.name}: {out[spec.name]['reports']} reports, attribution drift on "
                 f"{len(out[spec.name]['attribution_drift_days'])} days")
    return out


def _shap_model(ctx: Any, registry: Any, spec: Any, anchor: datetime, *, first_day: int, explain: int,
                background: int) -> dict[str, Any]:
    from demo import timeline_bounds
    from monitoring.explain.service import attribution_drift_over_time, run_shap_report

    versions = registry.list_versions(spec.registered_model)
    champion = registry.champion(spec.registered_model)
    reports = []
    for info in sorted(versions, key=lambda v: int(v.version)):
        if champion is not None and info.version == champion.version:
            continue  # the champion's newest report comes last, from the daily series
        view = run_shap_report(ctx, _job_actor(ctx), spec.name, version=info.version, at=anchor,
                               explain=explain, background=background, record_job=False)
        reports.append(view.id)
    start, _ = timeline_bounds(anchor)
    day_ends = [start + timedelta(days=d) for d in range(first_day, 31)]
    for moment in [m for m in day_ends if m < anchor] + [anchor]:
        view = run_shap_report(ctx, _job_actor(ctx), spec.name, at=moment, explain=explain,
                               background=background, record_job=False)  # recorded per model above
        reports.append(view.id)
    flagged = sorted({p.window_end.date().isoformat() for p in attribution_drift_over_time(ctx, spec.name)
                      if p.drifted and p.window_end is not None})
    return {"reports": len(reports), "attribution_drift_days": flagged}

