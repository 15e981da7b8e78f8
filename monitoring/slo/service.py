"""The SLO service: evaluate each configured model's SLOs, store snapshots and series, read them.

It owns source selection (Prometheus preset or logs), the stored SLO state (monitoring.slo.tables)
and every read of it. Reads take the ``viewer`` and check ``model.view`` themselves
(governance.rbac.require_view; ``viewer=None`` is a trusted internal caller such as the health
job). What the page shows is computed here and stored: every alert rule's decision
(:attr:`SLOSnapshotView.alert_rules`), latency percentiles per version, never recomputed in ui/.

Source per model: Prometheus when ``settings.prometheus_url`` is set and the model's metrics
are found there (preset from ``VIGIL_PROMETHEUS_PRESETS``, e.g. ``breast-cancer=fastapi,
ranker=triton``, else auto-detected: the first of fastapi, triton, vllm whose request metric
carries the model's label), otherwise the ingested logs. Without Prometheus, or when the model
has no metrics there, the logs are used and the snapshot says so.

:func:`run_slo_check` (state-changing: governance.runner.governed_run checks ``slo.run``,
records the job run, times it and audits the outcome) stores one snapshot per SLO and, for the
SLO page, the burn-rate history (hourly over the period) and the latency / error / GPU series.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import desc, select

from core.actor import Actor
from core.storage import logstore_location
from core.db import session_scope, write_scope
from core.errors import InvalidInput
from monitoring.slo.tables import SLOSeries, SLOSnapshot
from monitoring.slo import logs_source, presets
from monitoring.slo.burn import WINDOWS, RuleOutcome, SLOResult
from monitoring.slo.spec import SLODefinition, from_config
from core.timeutil import aware
from governance.rbac import require_view

log = logging.getLogger("vigil.slo")
SERIES_STEP = timedelta(hours=1)
SERIES_DAYS = 30  # history kept for the page's time-range picker


@dataclass(frozen=True)
class SLOSnapshotView:
    id: int
    model: str
    slo: str
    sli: str
    source: str
    at: datetime
    objective: float
    period: str
    error_ratio: dict[str, float | None]
    burn_rate: dict[str, float | None]
    requests: dict[str, float | None]
    budget_remaining: float | None
    page: bool
    ticket: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def alert_rules(self) -> list[RuleOutcome]:
        """Each multiwindow alert rule's decision as the job took it (empty for snapshots stored
        before decisions were kept: re-run ``jobs.slo``)."""
        return [RuleOutcome.from_dict(r) for r in self.details.get("alert_rules") or []]

    @property
    def availability(self) -> float | None:
        ratio = self.error_ratio.get(self.period)
        return None if ratio is None else 1.0 - ratio

    def contract(self) -> dict[str, Any]:
        return {"service": self.model, "name": self.slo, "objective": self.objective, "period": self.period,
                "error_ratio": dict(self.error_ratio), "burn_rate": dict(self.burn_rate),
                "error_budget_remaining": self.budget_remaining,
                "alerts": {"page": self.page, "ticket": self.ticket}}


def _view(row: SLOSnapshot) -> SLOSnapshotView:
    return SLOSnapshotView(row.id, row.model, row.slo, row.sli, row.source, aware(row.at),  # type: ignore[arg-type]
                           row.objective, row.period, dict(row.error_ratio or {}), dict(row.burn_rate or {}),
                           dict(row.requests or {}), row.budget_remaining, bool(row.page), bool(row.ticket),
                           dict(row.details or {}))


# ---- source selection --------------------------------------------------------------------

def configured_presets(env: dict[str, str] | None = None) -> dict[str, str]:
    from core.settings import Settings

    raw = Settings.from_env(env).prometheus_presets
    out = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        model, _, preset = item.partition("=")
        if preset.strip() not in presets.PRESETS:
            raise InvalidInput(f"VIGIL_PROMETHEUS_PRESETS: unknown preset {preset!r} for {model!r}")
        out[model.strip()] = preset.strip()
    return out


def detect_preset(source: Any, model: str, at: datetime) -> str | None:
    for name in presets.SERVICE_PRESETS:
        preset = presets.get(name)
        if source.has_series(preset.detect_metric + presets.selector(preset.labels_for(model)), at):
            return name
    return None


def _prometheus(url: str) -> Any:
    from monitoring.slo.prometheus import PrometheusConfig, PrometheusSource

    return PrometheusSource(PrometheusConfig.from_env(url))


@dataclass
class Evaluation:
    source: str
    preset: str | None
    results: list[tuple[SLODefinition, SLOResult]]
    details: dict[str, Any]
    burn: dict[str, list[dict[str, Any]]]
    metrics: list[dict[str, Any]]
    warnings: list[str]


def _jsonable(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in points:
        item = {}
        for k, v in p.items():
            if isinstance(v, datetime):
                v = v.astimezone(UTC).isoformat()
            elif hasattr(v, "isoformat"):
                v = v.isoformat()
            elif isinstance(v, float) and v != v:
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            item[k] = v
        out.append(item)
    return out


def evaluate_model(ctx: Any, model: str, at: datetime, *, prometheus_url: str | None = None,
                   with_series: bool = True) -> Evaluation:
    spec = ctx.models.get(model)
    th = spec.thresholds
    url = ctx.settings.prometheus_url if prometheus_url is None else prometheus_url
    warnings: list[str] = []
    if url:
        source = _prometheus(url)
        source.ping()
        preset = configured_presets().get(model) or detect_preset(source, model, at)
        if preset is not None:
            from monitoring.slo.evaluate import evaluate_prometheus

            slos = from_config(spec, preset)
            results = [(s, evaluate_prometheus(source, s, at, min_requests=th.min_requests_for_alert))
                       for s in slos]
            details = {"preset": preset, "latency": _prom_latency(source, preset, model, at, th.apdex_t_ms),
                       "gpu": _prom_gpu(source, preset, model, at)}
            burn: dict[str, list[dict[str, Any]]] = {}
            metrics: list[dict[str, Any]] = []
            if with_series:
                burn = {s.name: _prom_burn_series(source, s, at) for s in slos}
                metrics = _prom_metrics_series(source, preset, model, at)
            return Evaluation("prometheus", preset, results, details, burn, metrics, source.warnings)
        warnings.append(f"no metrics for {model!r} in Prometheus in any preset's naming; using the logs")
    # --- logs
    store = logstore_location(ctx.settings)
    slos = [SLODefinition(model, s.name, s.objective, s.objective, s.period, None, None, sli=s.sli,
                          threshold_ms=s.threshold_ms, source="logs") for s in spec.slos]
    results = [(s, logs_source.evaluate(store, model, s, at, min_requests=th.min_requests_for_alert))
               for s in slos]
    summary = logs_source.summary(store, model, at, apdex_t_ms=th.apdex_t_ms)
    details = {"latency": {"p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"], "p99_ms": summary["p99_ms"],
                           "apdex": summary["apdex"], "apdex_t_ms": th.apdex_t_ms, "kind": "percentiles"},
               "gpu": {"utilization_pct": summary["gpu_utilization"], "memory_mb": summary["gpu_memory_mb"]},
               "version": summary["version"]}
    burn, metrics = {}, []
    if with_series:
        start = at - timedelta(days=SERIES_DAYS)
        for s in slos:
            frame = logs_source.burn_series(store, model, s, start, at, step=SERIES_STEP,
                                            min_requests=th.min_requests_for_alert)
            burn[s.name] = _jsonable(frame.to_dict("records"))
        metrics = _jsonable(logs_source.metrics_series(store, model, start, at).to_dict("records"))
    return Evaluation("logs", None, results, details, burn, metrics, warnings)


def _prom_latency(source: Any, preset_name: str, model: str, at: datetime, apdex_t_ms: float) -> dict[str, Any]:
    from monitoring.slo.burn import apdex

    preset = presets.get(preset_name)
    labels = preset.labels_for(model)
    out: dict[str, Any] = {"kind": "percentiles" if preset.latency_bucket else "average",
                           "apdex": None, "apdex_t_ms": apdex_t_ms}
    queries = presets.apdex_queries(preset, labels, apdex_t_ms, "1h")
    if queries:
        under_t, under_4t, total = (source.scalar(q, at) for q in queries)
        if under_t is not None and under_4t is not None:
            out["apdex"] = apdex(under_t, max(under_4t - under_t, 0.0), total)
    for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        query = preset.quantile(q, labels, "1h")
        out[key] = source.scalar(query, at) if query else None
    avg = preset.average_ms(labels, "1h")
    out["average_ms"] = source.scalar(avg, at) if avg else None
    return out


def _prom_gpu(source: Any, preset_name: str, model: str, at: datetime) -> dict[str, Any]:
    preset = presets.get(preset_name)
    out: dict[str, Any] = {"utilization_pct": None, "memory_mb": None, "memory_headroom": None}
    for p in (preset, presets.DCGM):
        util, mem = p.gpu_util_query({}), p.gpu_mem_query(p.labels_for(model) if p is preset else {})
        if out["utilization_pct"] is None and util:
            out["utilization_pct"] = source.scalar(util, at)
        if out["memory_mb"] is None and mem:
            out["memory_mb"] = source.scalar(mem, at)
        head = p.gpu_mem_headroom_query({})
        if out["memory_headroom"] is None and head:
            out["memory_headroom"] = source.scalar(head, at)
    return out


def _ratio_expr(slo: SLODefinition, window: str) -> str | None:
    from monitoring.slo.spec import render

    if slo.ratio_query:
        return render(slo.ratio_query, window)
    if slo.error_query and slo.total_query:
        return f"({render(slo.error_query, window)}) / ({render(slo.total_query, window)})"
    return None


def _prom_burn_series(source: Any, slo: SLODefinition, at: datetime) -> list[dict[str, Any]]:
    from monitoring.slo import burn as b

    start = at - timedelta(days=SERIES_DAYS)
    step = SERIES_STEP.total_seconds()
    columns: dict[str, dict[float, float | None]] = {}
    for w in list(WINDOWS) + [slo.period]:
        expr = _ratio_expr(slo, w)
        if expr is None:
            return []
        series = source.range(expr, start, at, step)
        columns[w] = {s_at.timestamp(): v for s in series[:1] for s_at, v in s.samples}
    stamps = sorted({t for col in columns.values() for t in col})
    points = []
    for t in stamps:
        ratios = {w: columns[w].get(t) for w in columns}
        res = b.summarise(slo.service, slo.name, slo.objective, slo.objective, slo.period, ratios)
        points.append({"at": datetime.fromtimestamp(t, UTC), "requests": None,
                       **{f"burn_{w}": res.burn_rate[w] for w in WINDOWS},
                       "error_ratio_period": res.error_ratio[slo.period],
                       "budget_remaining": res.error_budget_remaining,
                       "page": res.alerts.page, "ticket": res.alerts.ticket})
    return _jsonable(points)


def _prom_metrics_series(source: Any, preset_name: str, model: str, at: datetime) -> list[dict[str, Any]]:
    preset = presets.get(preset_name)
    labels = preset.labels_for(model)
    start = at - timedelta(days=SERIES_DAYS)
    step = SERIES_STEP.total_seconds()
    queries: dict[str, str | None] = {
        "p50_ms": preset.quantile(0.5, labels, "1h"), "p95_ms": preset.quantile(0.95, labels, "1h"),
        "p99_ms": preset.quantile(0.99, labels, "1h"), "average_ms": preset.average_ms(labels, "1h"),
    }
    avail = presets.availability_queries(preset, labels)
    if avail:
        from monitoring.slo.spec import render

        queries["error_rate"] = f"({render(avail[0], '1h')}) / ({render(avail[1], '1h')})"
        queries["requests"] = f"({render(avail[1], '1h')}) * 3600"
    queries["gpu_utilization"] = preset.gpu_util_query({}) or presets.DCGM.gpu_util_query({})
    queries["gpu_memory_mb"] = preset.gpu_mem_query(labels) or presets.DCGM.gpu_mem_query({})
    rows: dict[float, dict[str, Any]] = {}
    for key, query in queries.items():
        if not query:
            continue
        for s in source.range(query, start, at, step)[:1]:
            for s_at, v in s.samples:
                rows.setdefault(s_at.timestamp(), {"at": s_at, "version": None})[key] = v
    return _jsonable([rows[t] for t in sorted(rows)])


# ---- the state-changing service ------------------------------------------------------------

def run_slo_check(ctx: Any, actor: Actor, model: str, *, at: datetime | None = None,
                  prometheus_url: str | None = None, with_series: bool = True) -> list[SLOSnapshotView]:
    """Evaluate and store ``model``'s SLOs at ``at`` (default now). Needs ``slo.run``."""
    from governance.runner import governed_run

    at = aware(at) or datetime.now(UTC)
    with governed_run(ctx, actor, "slo.run", model, job="slo", failure_details={"at": at.isoformat()}) as run:
        ev = evaluate_model(ctx, model, at, prometheus_url=prometheus_url, with_series=with_series)
        views = _store(ctx, model, ev, at, actor, run.run_id)
        pages = [v.slo for v in views if v.page]
        tickets = [v.slo for v in views if v.ticket]
        run.details = {"source": ev.source, "preset": ev.preset, "at": at.isoformat(),
                       "page": pages, "ticket": tickets, "warnings": ev.warnings}
        run.message = f"{len(views)} SLOs from {ev.source}" + (f"; paging: {', '.join(pages)}" if pages else "")
        run.audit = {"source": ev.source, "at": at.isoformat(), "page": pages, "ticket": tickets}
    return views


def _store(ctx: Any, model: str, ev: Evaluation, at: datetime, actor: Actor, run_id: int | None) -> list[SLOSnapshotView]:
    now = datetime.now(UTC)
    views = []
    with write_scope(ctx.engine) as session:
        for slo, res in ev.results:
            row = SLOSnapshot(
                model=model, slo=slo.name, sli=slo.sli, source=ev.source, at=at, objective=slo.objective,
                period=slo.period, error_ratio=res.error_ratio, burn_rate=res.burn_rate, requests=res.requests,
                budget_remaining=res.error_budget_remaining, page=res.alerts.page, ticket=res.alerts.ticket,
                details={**ev.details, "reasons": list(res.alerts.reasons), "guarded": list(res.alerts.guarded),
                         "alert_rules": [r.as_dict() for r in res.alerts.rules],
                         "note": slo.note, "threshold_ms": slo.threshold_ms, "warnings": ev.warnings},
                created_at=now, created_by=actor.username, job_run_id=run_id)
            session.add(row)
            session.flush()
            views.append(_view(row))
        kinds = {f"burn:{name}": pts for name, pts in ev.burn.items()}
        if ev.metrics or ev.burn:
            kinds["metrics"] = ev.metrics
        for kind, pts in kinds.items():
            old = session.scalars(select(SLOSeries).where(SLOSeries.model == model, SLOSeries.kind == kind)).first()
            if old is None:
                old = SLOSeries(model=model, kind=kind)
                session.add(old)
            old.start, old.end, old.points, old.computed_at = at - timedelta(days=SERIES_DAYS), at, pts, now
    return views


# ---- reads -----------------------------------------------------------------------------------

def latest_snapshots(ctx: Any, model: str, *, viewer: str | None = None) -> list[SLOSnapshotView]:
    """The newest snapshot of each of ``model``'s SLOs; ``viewer`` must be allowed to view it."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(select(SLOSnapshot).where(SLOSnapshot.model == model)
                               .order_by(desc(SLOSnapshot.at), desc(SLOSnapshot.id)).limit(200)).all()
        seen: dict[str, SLOSnapshotView] = {}
        for row in rows:
            seen.setdefault(row.slo, _view(row))
        return sorted(seen.values(), key=lambda v: v.id)  # the order the SLOs are configured in


def snapshot_history(ctx: Any, model: str, slo: str, *, since: datetime | None = None,
                     limit: int = 2000, viewer: str | None = None) -> list[SLOSnapshotView]:
    """Snapshots of one SLO, oldest first; ``viewer`` must be allowed to view ``model``."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(SLOSnapshot).where(SLOSnapshot.model == model, SLOSnapshot.slo == slo)
        if since is not None:
            stmt = stmt.where(SLOSnapshot.at >= since)
        rows = session.scalars(stmt.order_by(desc(SLOSnapshot.at)).limit(limit)).all()
        return [_view(r) for r in reversed(rows)]


@dataclass(frozen=True)
class SeriesView:
    model: str
    kind: str
    start: datetime
    end: datetime
    computed_at: datetime
    points: list[dict[str, Any]]


def get_series(ctx: Any, model: str, kind: str, *, viewer: str | None = None) -> SeriesView | None:
    """The stored series ``kind`` (``burn:<slo>`` or ``metrics``); ``viewer`` must be allowed to
    view ``model``. The ``metrics`` points are per bucket and version (``version`` None from
    Prometheus): percentiles of different versions are never averaged."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(select(SLOSeries).where(SLOSeries.model == model, SLOSeries.kind == kind)).first()
        if row is None:
            return None
        return SeriesView(row.model, row.kind, aware(row.start), aware(row.end), aware(row.computed_at),  # type: ignore[arg-type]
                          list(row.points or []))


__all__ = ["SLOSnapshotView", "SeriesView", "run_slo_check", "latest_snapshots", "snapshot_history",
           "get_series", "evaluate_model", "detect_preset", "configured_presets"]
