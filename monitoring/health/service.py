"""The health service: gather each model's inputs, score them, store snapshots, notify, read them.

It owns the health snapshots (monitoring.health.tables) and every read of them: reads take the
``viewer`` and check ``model.view`` themselves (governance.rbac.require_view; ``viewer=None``
is a trusted internal caller such as the metrics exporter). :func:`run_health_check` goes
through governance.runner.governed_run (``health.run`` checked, run recorded, timed, audited).
The score itself is pure (monitoring.health.score).

Inputs: the newest SLO snapshots (or a fresh evaluation from the logs when none is recent),
the log store (latency, error rate, GPU, last record, hourly traffic), the newest drift run
(severity, share drifted, data quality) and the job-run records (freshness, success rate).
Weights come from ``VIGIL_HEALTH_WEIGHTS`` (``part=weight,...``), defaults in
``monitoring.health.score.DEFAULT_WEIGHTS``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import desc, select

from core.actor import Actor
from core.storage import logstore_location
from core.db import session_scope, write_scope
from core.errors import ConfigError
from core.runs import latest_runs
from core.timeutil import aware
from governance.rbac import require_view
from monitoring.health.score import (
    DEFAULT_WEIGHTS,
    HealthInputs,
    HealthPart,
    HealthResult,
    compute_health,
    parse_weights,
)
from monitoring.health.tables import HealthSnapshot

log = logging.getLogger("vigil.health")
SLO_SNAPSHOT_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class HealthSnapshotView:
    id: int
    at: datetime
    model: str
    version: str | None
    score: float | None
    level: str
    parts: list[HealthPart]

    def reasons(self) -> list[str]:
        low = sorted((p for p in self.parts if p.score is not None and p.score < 80), key=lambda p: p.score)
        return [f"{p.name}: {p.detail}" for p in low]


def _view(row: HealthSnapshot) -> HealthSnapshotView:
    parts = [HealthPart(p["name"], p.get("score"), float(p.get("weight") or 0.0), p.get("detail", ""))
             for p in (row.parts or [])]
    return HealthSnapshotView(row.id, aware(row.at), row.model, row.version, row.score, row.level, parts)  # type: ignore[arg-type]


def latest_health(ctx: Any, model: str, *, viewer: str | None = None) -> HealthSnapshotView | None:
    """The newest stored health snapshot of ``model`` (the Overview's contract); ``viewer`` must
    be allowed to view ``model``."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(select(HealthSnapshot).where(HealthSnapshot.model == model)
                              .order_by(desc(HealthSnapshot.at), desc(HealthSnapshot.id)).limit(1)).first()
        return _view(row) if row else None


def health_at(ctx: Any, model: str, at: datetime, *, viewer: str | None = None) -> HealthSnapshotView | None:
    """The newest snapshot of ``model`` taken at or before ``at`` (None when none was): the
    health as it stood then, for questions about replayed history; ``viewer`` must be allowed
    to view ``model``."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(select(HealthSnapshot).where(HealthSnapshot.model == model,
                                                           HealthSnapshot.at <= aware(at))
                              .order_by(desc(HealthSnapshot.at), desc(HealthSnapshot.id)).limit(1)).first()
        return _view(row) if row else None


def health_history(ctx: Any, model: str, *, since: datetime | None = None, limit: int = 5000,
                   viewer: str | None = None) -> list[HealthSnapshotView]:
    """Snapshots of ``model`` since ``since``, oldest first; ``viewer`` must be allowed to view it."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(HealthSnapshot).where(HealthSnapshot.model == model)
        if since is not None:
            stmt = stmt.where(HealthSnapshot.at >= since)
        rows = session.scalars(stmt.order_by(desc(HealthSnapshot.at)).limit(limit)).all()
        return [_view(r) for r in reversed(rows)]


def recent_health(ctx: Any, model: str, *, days: int = 10,
                  viewer: str | None = None) -> list[HealthSnapshotView]:
    """Snapshots of the ``days`` before the newest one, oldest first (empty before the first)."""
    newest = latest_health(ctx, model, viewer=viewer)
    if newest is None:
        return []
    return health_history(ctx, model, since=newest.at - timedelta(days=days), viewer=viewer)


def weights_from_env(env: Mapping[str, str] | None = None) -> dict[str, float] | None:
    """``VIGIL_HEALTH_WEIGHTS`` checked in full: a bad value is a ConfigError naming the variable."""
    from core.settings import Settings

    raw = Settings.from_env(env).health_weights
    if not raw.strip():
        return None
    known = ", ".join(DEFAULT_WEIGHTS)
    try:
        weights = parse_weights(raw)
    except ValueError as exc:
        raise ConfigError(f"VIGIL_HEALTH_WEIGHTS: {exc}; expected part=number,... with parts from: "
                          f"{known} (environment)") from None
    for name, value in weights.items():
        if name not in DEFAULT_WEIGHTS:
            raise ConfigError(f"VIGIL_HEALTH_WEIGHTS: unknown part {name!r}; use one of: {known} "
                              "(environment)")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"VIGIL_HEALTH_WEIGHTS: weight of {name!r} must be a finite number >= 0, "
                              f"got {value} (environment)")
    return weights


def gather_inputs(ctx: Any, model: str, at: datetime) -> tuple[HealthInputs, str | None]:
    from monitoring.slo import logs_source
    from monitoring.slo.service import evaluate_model, latest_snapshots

    spec = ctx.models.get(model)
    th = spec.thresholds
    summary = logs_source.summary(logstore_location(ctx.settings), model, at, apdex_t_ms=th.apdex_t_ms)
    # SLOs: recent stored snapshots, else a quick evaluation from the logs (not stored)
    snaps = [s for s in latest_snapshots(ctx, model) if s.at <= at + timedelta(minutes=1)
             and at - s.at <= SLO_SNAPSHOT_MAX_AGE]
    budgets: list[float] = []
    page = ticket = False
    slo_latency: dict[str, Any] = {}
    gpu: dict[str, Any] = {}
    if snaps:
        for s in snaps:
            if s.budget_remaining is not None:
                budgets.append(s.budget_remaining)
            page, ticket = page or s.page, ticket or s.ticket
            slo_latency = s.details.get("latency") or slo_latency
            gpu = s.details.get("gpu") or gpu
    elif spec.slos:
        try:
            ev = evaluate_model(ctx, model, at, with_series=False, prometheus_url="")
            for _, r in ev.results:
                if r.error_budget_remaining is not None:
                    budgets.append(r.error_budget_remaining)
                page, ticket = page or r.alerts.page, ticket or r.alerts.ticket
        except Exception as exc:  # the logs may be unreadable: the part shows "no data"
            log.warning("SLO evaluation for %s failed: %s", model, exc)
    availability = [s.objective for s in spec.slos if s.sli == "availability"]
    # drift and data quality
    drift_sev = drift_share = max_missing = None
    try:
        from monitoring.drift.service import latest_run

        run = latest_run(ctx, model)
        if run is not None and run.status != "no_data":
            drift_sev, drift_share = run.max_severity, run.share_drifted
            missing = (run.quality or {}).get("missing_share") or {}
            max_missing = max(missing.values()) if missing else None
    except ImportError:
        pass
    # jobs
    runs = [r for r in latest_runs(ctx.engine, model=model, limit=50) if r.status in ("success", "failed")]
    success_rate = (sum(r.status == "success" for r in runs) / len(runs)) if runs else None
    last_ok = max((aware(r.finished_at) for r in runs if r.status == "success" and r.finished_at), default=None)
    p95 = summary["p95_ms"] if summary["requests"] else slo_latency.get("p95_ms") or slo_latency.get("average_ms")
    gpu_util = summary["gpu_utilization"] if summary["gpu_utilization"] is not None else gpu.get("utilization_pct")
    inputs = HealthInputs(
        slo_budget_remaining=min(budgets) if budgets else None, slo_page=page, slo_ticket=ticket,
        latency_p95_ms=p95, latency_target_ms=th.latency_target_ms,
        error_rate=summary["error_rate"] if summary["requests"] else _slo_error_rate(snaps),
        error_allowance=(1.0 - min(availability)) if availability else 0.01,
        previous_error_rate=summary["previous_error_rate"] if summary["previous_requests"] else None,
        drift_severity=drift_sev, drift_share=drift_share,
        max_missing_share=max_missing, missing_limit=th.max_missing_share,
        gpu_utilization_pct=gpu_util, gpu_memory_free_share=gpu.get("memory_headroom"),
        log_age_s=(at - summary["last_ts"]).total_seconds() if summary["last_ts"] else None,
        job_age_s=(at - last_ok).total_seconds() if last_ok else None,
        job_success_rate=success_rate,
        hourly_requests=tuple(summary["hourly_requests"]) if summary["requests"] else (),
    )
    return inputs, summary["version"]


def _slo_error_rate(snaps: list[Any]) -> float | None:
    """Without logs (Prometheus only): the availability SLO's error ratio of the last hour."""
    for s in snaps:
        if s.sli == "availability" and s.error_ratio.get("1h") is not None:
            return float(s.error_ratio["1h"])
    return None


def run_health_check(ctx: Any, actor: Actor, model: str, *, at: datetime | None = None,
                     notify: bool = True) -> tuple[HealthSnapshotView, Any]:
    """Score ``model`` at ``at``, store the snapshot, notify on a level change. Needs ``health.run``."""
    from governance.runner import governed_run
    from monitoring.health.notify import notify_level

    weights = weights_from_env()  # a bad value stops here, before a run is recorded
    at = aware(at) or datetime.now(UTC)
    with governed_run(ctx, actor, "health.run", model, job="health",
                      failure_details={"at": at.isoformat()}) as run:
        inputs, version = gather_inputs(ctx, model, at)
        result: HealthResult = compute_health(inputs, weights)
        with write_scope(ctx.engine) as session:
            row = HealthSnapshot(model=model, version=version, at=at, score=result.score, level=result.level,
                                 parts=[{"name": p.name, "score": p.score, "weight": p.weight, "detail": p.detail}
                                        for p in result.parts],
                                 created_at=datetime.now(UTC), created_by=actor.username, job_run_id=run.run_id)
            session.add(row)
            session.flush()
            view = _view(row)
        outcome = reminder = None
        if notify:
            from governance.inventory_reminders import remind_overdue

            outcome = notify_level(ctx, model, version, result.level, result.score, result.reasons(), at)
            reminder = remind_overdue(ctx, model, at)  # "inventory review overdue" (weekly at most)
        run.details = {"score": result.score, "level": result.level, "version": version,
                       "notified": bool(outcome and outcome.sent),
                       "notify_error": outcome.error if outcome else None,
                       "review_overdue": bool(reminder and reminder.overdue),
                       "review_reminder_sent": bool(reminder and reminder.sent)}
        run.message = f"score {result.score} ({result.level})"
        run.audit = {"score": result.score, "level": result.level, "at": at.isoformat()}
    return view, outcome
