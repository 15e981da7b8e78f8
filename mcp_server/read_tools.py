"""Read-only MCP tools, resources and the investigation prompt.

Each tool reads through the same service the console page reads (Overview: governance.registry
and monitoring.health.service; Drift: monitoring.drift.service; SLOs: monitoring.slo.service;
Explanations: monitoring.explain.service; Audit: governance.audit.read_audit; Releases:
governance.releases and governance.release_reads), passing the calling user as ``viewer`` (or
the Actor, where the service takes one), so the services decide what the caller may see and
audit what they audit. Nothing here computes a figure or re-implements a permission rule.

PII: no tool returns values of input features. Drift and explanation results are statistics
per feature (names, distances, p-values, mean |SHAP|); the drift run's per-category histograms
and SHAP beeswarm points (which carry values) are left out. Audit entries pass through
governance.audit_pii's masking for the caller (the export's rule), and core.redact for secrets.

``at`` (ISO-8601, UTC unless an offset is given) asks how things stood at a moment of the stored
history (the demo's incidents are in replayed history): the health snapshot taken then or before
(monitoring.health.service.health_at) and the SLO figures of the stored hourly burn series at
that moment (monitoring.slo.service.get_series, as the SLO page's "Budget over time" chart).
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from core.errors import InvalidInput, NotFound
from core.redact import redact_obj, redact_text
from mcp_server.registry import REGISTRY, Call
from mcp_server.schemas import (
    AliasMove,
    AttributionDrift,
    AuditEntry,
    AuditPage,
    BurnAlert,
    DriftFeature,
    DriftMethod,
    DriftRun,
    DriftSummary,
    Explanations,
    FeatureImportance,
    Gate,
    HealthComponent,
    HealthHistory,
    HealthPoint,
    MattersFeature,
    ModelHealth,
    ModelList,
    ModelSummary,
    ReleaseRequest,
    Releases,
    SLOState,
    SLOStatus,
)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 100_000  # deeper than this, narrow the filters (since/until) instead

ModelName = Annotated[str, Field(description="a monitored model's name, as list_models shows it", max_length=200)]
When = Annotated[str | None, Field(description="ISO-8601 time (UTC unless it has an offset)", max_length=64)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"page size (1-{MAX_LIMIT})")]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET,
                                description="where the page starts (a previous page's next_offset)")]


# -- argument checks (the same rules when called without the SDK's validation) --------------------
def check_model(call: Call, model: str) -> str:
    """``model`` when it is a configured model; InvalidInput naming the models otherwise."""
    names = list(call.ctx.models.names)
    if not isinstance(model, str) or model not in names:
        shown = redact_text(str(model))[:80]
        raise InvalidInput(f"unknown model {shown!r}; the monitored models are: {', '.join(names)}")
    return model


def parse_when(value: str | None, name: str = "at") -> datetime | None:
    """An aware UTC datetime from an ISO-8601 string (None stays None)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{name} must be an ISO-8601 time such as 2026-11-24T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO-8601 time such as 2026-11-24T12:00:00Z, "
                           f"not {value[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_page(limit: int, offset: int) -> tuple[int, int]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be an integer from 0 to {MAX_OFFSET}; narrow the filters to go further")
    return limit, offset


def page(items: Sequence[Any], limit: int, offset: int) -> tuple[list[Any], int | None]:
    """One page of ``items`` and the next page's offset (None on the last one)."""
    chunk = list(items[offset:offset + limit])
    return chunk, (offset + limit if offset + limit < len(items) else None)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def describe(exc: BaseException) -> str:
    """One line naming a dependency's failure (secrets redacted)."""
    return redact_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


# -- list_models ---------------------------------------------------------------------------------
@REGISTRY.tool(
    "list_models",
    "Read only. The monitored models you may view: registered model, champion version (from MLflow; "
    "a note when MLflow does not answer), number of versions, and the latest health score and status.")
def list_models(call: Call) -> ModelList:
    from governance import rbac
    from governance.registry import champion_of, model_versions
    from monitoring.health.service import latest_health

    ctx, who = call.ctx, call.actor.username
    allowed = set(rbac.permitted_models(ctx, who))
    out, mlflow_down = [], None
    for name in [n for n in ctx.models.names if n in allowed]:
        spec = ctx.models.get(name)
        item = ModelSummary(name=name, registered_model=spec.registered_model, task=spec.task)
        notes = []
        if mlflow_down is None:
            try:
                versions = model_versions(ctx, name, viewer=who)
                champion = champion_of(versions)
                item.champion_version = champion.version if champion else None
                item.versions = len(versions)
            except NotFound:
                item.versions = 0
                notes.append("no version registered in MLflow yet")
            except Exception as exc:  # noqa: BLE001 - MLflow down: degraded, not an error
                mlflow_down = describe(exc)
        if mlflow_down is not None:
            notes.append(f"MLflow did not answer ({mlflow_down}): champion unknown")
        snap = latest_health(ctx, name, viewer=who)
        if snap is not None:
            item.health_score, item.health_status, item.health_at = snap.score, snap.level, iso(snap.at)
        else:
            notes.append("no health snapshot yet")
        item.note = "; ".join(notes) or None
        out.append(item)
    note = None if out else "No monitored model is visible to you; ask an administrator for a grant."
    return ModelList(models=out, note=note)


# -- model_health --------------------------------------------------------------------------------
def _health(view: Any, model: str, asked: datetime | None) -> ModelHealth:
    if view is None:
        when = f" at or before {iso(asked)}" if asked else ""
        return ModelHealth(model=model, asked_at=iso(asked),
                           note=f"no health snapshot{when}; the health job (python -m jobs.health) stores them")
    return ModelHealth(
        model=model, at=iso(view.at), asked_at=iso(asked), version=view.version, score=view.score,
        status=view.level, reasons=view.reasons(),
        components=[HealthComponent(name=p.name, score=p.score, weight=p.weight, detail=p.detail)
                    for p in view.parts])


@REGISTRY.tool(
    "model_health",
    "Read only. A model's health score (0-100), status (ok/warning/critical), the components of the "
    "score with their detail, and the reasons it is lower, as the Overview page shows them. With "
    "'at', the snapshot taken at or before that time (for past incidents).")
def model_health(call: Call, model: ModelName, at: When = None) -> ModelHealth:
    from monitoring.health.service import health_at, latest_health

    check_model(call, model)
    moment = parse_when(at)
    who = call.actor.username
    view = latest_health(call.ctx, model, viewer=who) if moment is None else health_at(call.ctx, model, moment,
                                                                                          viewer=who)
    return _health(view, model, moment)


# -- drift_summary -------------------------------------------------------------------------------
def _run(run: Any) -> DriftRun:
    return DriftRun(run_id=run.id, version=run.version, window=run.window, window_start=iso(run.window_start),
                    window_end=iso(run.window_end), checked_at=iso(run.at), status=run.status, rows=run.rows,
                    features_tested=run.features_tested, drifted_features=run.drifted_features,
                    share_drifted=run.share_drifted, max_severity=run.max_severity,
                    dataset_drift=run.dataset_drift, drifted_feature_names=run.drifted_feature_names,
                    note=run.note or "")


def _features(run: Any, pii: Sequence[str]) -> list[DriftFeature]:
    # statistics only: FeatureSummary.histogram (the current window's shares per value) is left out
    return [DriftFeature(feature=f.feature, kind=f.kind, pii=f.feature in pii, drifted=f.drifted,
                         severity=f.severity, missing_share_current=f.missing_share_current,
                         methods=[DriftMethod(method=r.method, statistic=r.statistic, p_value=r.p_value,
                                              p_value_adjusted=r.p_value_adjusted, threshold=r.threshold,
                                              threshold_on=r.threshold_on, drifted=r.drifted,
                                              severity=r.severity) for r in f.results])
            for f in run.features]


@REGISTRY.tool(
    "drift_summary",
    "Read only. Data drift of a model: the latest drift run (drifted features, severity, share drifted, "
    "dataset drift) with per-feature test results, the multiple-testing correction used, and 'drift that "
    "matters' (drifted features weighted by SHAP importance). With start/end, also the runs whose window "
    "ends in [start, end), paged. Feature values are never returned.")
def drift_summary(call: Call, model: ModelName, start: When = None, end: When = None,
                  window: Annotated[str | None, Field(description="window length, e.g. 1d", max_length=16)] = None,
                  limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> DriftSummary:
    from core.timeutil import parse_window
    from monitoring.drift.service import latest_run, list_runs
    from monitoring.explain.service import drift_that_matters

    check_model(call, model)
    limit, offset = check_page(limit, offset)
    if window:
        parse_window(window)  # InvalidInput naming the expected form
    lo, hi = parse_when(start, "start"), parse_when(end, "end")
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidInput("end must be after start")
    ctx, who = call.ctx, call.actor.username
    spec = ctx.models.get(model)
    th = spec.thresholds
    out = DriftSummary(model=model, multiple_testing=th.multiple_testing, alpha=th.drift_alpha, limit=limit)
    notes = []
    if lo is None and hi is None:
        run = latest_run(ctx, model, window=window or None, viewer=who)
    else:
        runs = list_runs(ctx, model, window=window or None, since=lo, viewer=who)
        runs = [r for r in runs if hi is None or r.window_end < hi]
        chunk, next_offset = page(runs, limit, offset)
        out.runs = [_run(r) for r in chunk]
        out.offset, out.limit, out.total, out.next_offset = offset, limit, len(runs), next_offset
        newest = runs[-1] if runs else None
        from monitoring.drift.service import get_run

        run = get_run(ctx, newest.id, viewer=who) if newest is not None else None
    if run is None:
        notes.append("no drift run" + (" in that window" if (lo or hi) else " yet")
                     + f"; run python -m jobs.drift --model {model}")
    else:
        out.latest = _run(run)
        out.features = _features(run, spec.pii_features)
    try:
        matters = drift_that_matters(ctx, model, viewer=who)
    except Exception as exc:  # noqa: BLE001 - an extra: the drift figures stand without it
        matters = None
        notes.append(f"drift that matters unavailable ({describe(exc)})")
    if matters is not None:
        ranked = [f for f in matters.result.features if f.drifted][:20]
        out.drift_that_matters = [MattersFeature(feature=f.feature, severity=f.severity,
                                                 importance_share=f.importance_share, impact=f.impact,
                                                 drifted=f.drifted) for f in ranked]
        out.drift_that_matters_flag = bool(matters.result.drifted_that_matter())
        if lo is not None or hi is not None:
            notes.append("drift that matters is computed on the newest drift run and SHAP report")
    out.note = "; ".join(notes) or None
    return out


# -- slo_status ----------------------------------------------------------------------------------
def _point_at(points: Sequence[dict[str, Any]], moment: datetime) -> dict[str, Any] | None:
    best, best_at = None, None
    for p in points:
        at = parse_when(str(p.get("at")), "at") if p.get("at") is not None else None
        if at is not None and at <= moment and (best_at is None or at > best_at):
            best, best_at = p, at
    return best


def _firing(page_: bool, ticket: bool) -> list[str]:
    return [name for name, on in (("page", page_), ("ticket", ticket)) if on]


@REGISTRY.tool(
    "slo_status",
    "Read only. Each SLO of a model: objective, period, availability, error budget remaining, burn rates "
    "per window and the multiwindow burn-rate alerts (page/ticket) firing, as the SLO page shows them, "
    "with latency figures. With 'at', the stored hourly figures at that time (for past incidents).")
def slo_status(call: Call, model: ModelName, at: When = None) -> SLOStatus:
    from monitoring.slo.burn import WINDOWS
    from monitoring.slo.service import get_series, latest_snapshots

    check_model(call, model)
    moment = parse_when(at)
    ctx, who = call.ctx, call.actor.username
    snaps = latest_snapshots(ctx, model, viewer=who)
    out = SLOStatus(model=model, asked_at=iso(moment))
    if not snaps:
        out.note = f"no SLO evaluation stored yet; run python -m jobs.slo --model {model}"
        return out
    out.source = snaps[0].source
    notes = []
    for snap in snaps:
        if moment is None or moment >= snap.at:
            out.slos.append(SLOState(
                slo=snap.slo, sli=snap.sli, objective=snap.objective, period=snap.period, at=iso(snap.at),
                availability=snap.availability, error_budget_remaining=snap.budget_remaining,
                burn_rates=dict(snap.burn_rate), page=snap.page, ticket=snap.ticket,
                firing=_firing(snap.page, snap.ticket),
                alert_rules=[BurnAlert(severity=r.severity, long_window=r.long_window, short_window=r.short_window,
                                       factor=r.factor, long_burn=r.long_burn, short_burn=r.short_burn,
                                       firing=r.firing, held=r.held) for r in snap.alert_rules]))
            continue
        series = get_series(ctx, model, f"burn:{snap.slo}", viewer=who)
        point = _point_at(series.points, moment) if series is not None else None
        if point is None:
            notes.append(f"{snap.slo}: no stored figures at or before {iso(moment)}")
            continue
        ratio = point.get("error_ratio_period")
        page_, ticket = bool(point.get("page")), bool(point.get("ticket"))
        out.slos.append(SLOState(
            slo=snap.slo, sli=snap.sli, objective=snap.objective, period=snap.period, at=str(point["at"]),
            availability=None if ratio is None else 1.0 - float(ratio),
            error_budget_remaining=point.get("budget_remaining"),
            burn_rates={w: point.get(f"burn_{w}") for w in WINDOWS}, page=page_, ticket=ticket,
            firing=_firing(page_, ticket)))
    if moment is None or moment >= snaps[0].at:
        out.latency = {k: v for k, v in (snaps[0].details.get("latency") or {}).items()}
    else:
        notes.append("figures of the stored hourly burn series (the SLO page's 'Budget over time'); "
                     "per-rule detail is kept for the newest evaluation only")
    out.note = "; ".join(notes) or None
    return out


# -- explanations --------------------------------------------------------------------------------
@REGISTRY.tool(
    "explanations",
    "Read only. The latest SHAP report of a model: top features by mean absolute SHAP value (with the "
    "reference's), and the attribution drift of the newest report. Feature values are never returned.")
def explanations(call: Call, model: ModelName,
                 top: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="how many features")] = 10
                 ) -> Explanations:
    from monitoring.explain.service import attribution_drift_over_time, latest_report

    check_model(call, model)
    check_page(top, 0)
    ctx, who = call.ctx, call.actor.username
    report = latest_report(ctx, model, viewer=who)
    if report is None:
        return Explanations(model=model, note=f"no SHAP report yet; run python -m jobs.shap --model {model}")
    ranked = sorted(report.importance.items(), key=lambda kv: -kv[1])[:top]
    out = Explanations(
        model=model, report_id=report.id, version=report.version, created_at=iso(report.created_at),
        window=report.window, explainer=report.explainer, explained_rows=report.explained_rows,
        additivity_ok=report.additivity_ok,
        top_features=[FeatureImportance(feature=f, mean_abs_shap=v,
                                        reference_mean_abs_shap=report.reference_importance.get(f))
                      for f, v in ranked])
    points = attribution_drift_over_time(ctx, model, viewer=who)
    if points:
        p = max(points, key=lambda x: (x.created_at, x.report_id))
        out.attribution_drift = AttributionDrift(report_id=p.report_id, version=p.version,
                                                 created_at=iso(p.created_at), distance=p.distance,
                                                 threshold=p.threshold, drifted=p.drifted)
    return out


# -- audit_search --------------------------------------------------------------------------------
OUTCOME = Annotated[str | None, Field(description="success | denied | failed", max_length=16)]


@REGISTRY.tool(
    "audit_search",
    "Read only; needs the audit.read permission (a refusal is itself audited). Audit log entries, newest "
    "first, filtered like 'python -m jobs.audit tail': since/until (ISO), actor, action (or a prefix "
    "like 'model.*'), outcome, resource. Values of PII-tagged features are masked unless you may view them.")
def audit_search(call: Call, since: When = None, until: When = None,
                 actor: Annotated[str | None, Field(max_length=200)] = None,
                 action: Annotated[str | None, Field(max_length=200)] = None,
                 outcome: OUTCOME = None,
                 resource: Annotated[str | None, Field(max_length=300)] = None,
                 limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> AuditPage:
    from governance.audit import read_audit
    from governance.audit_pii import mask_record, masked_features, model_names

    limit, offset = check_page(limit, offset)
    filters: dict[str, Any] = {k: v for k, v in (("actor", actor), ("action", action), ("outcome", outcome),
                                                 ("resource", resource)) if v}
    for key, value in (("since", since), ("until", until)):
        moment = parse_when(value, key)
        if moment is not None:
            filters[key] = moment
    # one more than the page says whether another page follows
    records = read_audit(call.ctx, call.actor, **filters, limit=offset + limit + 1, newest_first=True)
    hidden, names = masked_features(call.ctx, call.actor), model_names(call.ctx)
    chunk = records[offset:offset + limit]
    entries = []
    for rec in chunk:
        rec = mask_record(rec, hidden, names)
        entries.append(AuditEntry(seq=rec.seq, ts=rec.ts, actor=rec.actor, action=rec.action,
                                  resource=redact_text(rec.resource), outcome=rec.outcome,
                                  reason=redact_text(rec.reason), source=rec.source, client=rec.client_addr,
                                  details=redact_obj(rec.details) if rec.details else {}))
    more = len(records) > offset + limit
    return AuditPage(entries=entries, offset=offset, limit=limit, total=None,
                     next_offset=offset + limit if more else None)


# -- releases ------------------------------------------------------------------------------------
def release_view(view: Any, may_decide: bool) -> ReleaseRequest:
    stage = view.current_stage
    return ReleaseRequest(
        id=view.id, model=view.model, version=view.version, state=view.state, requested_by=view.requested_by,
        reason=view.reason, opened_at=iso(view.opened_at), expires_at=iso(view.expires_at),
        closed_at=iso(view.closed_at), outcome=view.closed_reason, current_stage=stage.name if stage else None,
        gates=[Gate(name=g.name, kind=g.kind, mode=g.mode, status=str(g.status), value=g.value,
                    threshold=g.threshold, source=g.source or "") for g in view.gates],
        decisions=[f"{d.approver} {d.done} stage {d.stage}" + (f": {d.comment}" if d.comment else "")
                   for d in view.decisions],
        you_may_decide=may_decide)


@REGISTRY.tool(
    "releases",
    "Read only. Release requests (gates, stages, decisions, state) with the open ones you may approve or "
    "reject now; for one model also its champion version and alias history (promotions, rollbacks). "
    "Without model: the requests of every model you may view (what awaits your decision). Newest first; "
    "requests and alias moves are paged together by limit/offset.")
def releases(call: Call, model: Annotated[str | None, Field(description="a monitored model; omit for all",
                                                            max_length=200)] = None,
             limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> Releases:
    from governance import release_reads
    from governance import releases as service
    from governance.registry import champion_of, model_versions

    if model is not None:
        check_model(call, model)
    limit, offset = check_page(limit, offset)
    ctx, who = call.ctx, call.actor.username
    requests = service.list_requests(ctx, viewer=who, model=model)
    decidable = {v.id for v in service.list_requests(ctx, viewer=who, model=model, decidable=True)}
    moves = release_reads.alias_moves(ctx, who, model, limit=offset + limit + 1) if model is not None else []
    req_page, req_next = page(requests, limit, offset)
    move_page = moves[offset:offset + limit]
    more = req_next is not None or len(moves) > offset + limit
    out = Releases(model=model, offset=offset, limit=limit, total=len(requests),
                   next_offset=offset + limit if more else None,
                   requests=[release_view(v, v.id in decidable) for v in req_page],
                   awaiting_your_decision=sorted(decidable),
                   alias_history=[AliasMove(id=m.id, alias=m.alias, from_version=m.from_version,
                                            to_version=m.to_version, kind=m.kind, actor=m.actor, reason=m.reason,
                                            request_id=m.request_id, moved_at=iso(m.moved_at))
                                  for m in move_page])
    if model is None:
        return out
    try:
        champion = champion_of(model_versions(ctx, model, viewer=who))
        out.champion_version = champion.version if champion else None
    except NotFound:
        out.note = "no version registered in MLflow yet"
    except Exception as exc:  # noqa: BLE001 - MLflow down: degraded
        out.note = f"MLflow did not answer ({describe(exc)}): champion unknown"
    return out


# -- resources -----------------------------------------------------------------------------------
def _json(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=2, sort_keys=False)


@REGISTRY.resource(
    "vigil://models/{model}/drift/latest", "latest drift report",
    "JSON summary of the model's latest drift run: drifted features, severity, per-feature test results, "
    "multiple-testing correction and drift that matters (no feature values).")
def drift_latest_resource(call: Call, model: str) -> str:
    return _json(drift_summary(call, model))


@REGISTRY.resource(
    "vigil://models/{model}/shap/latest", "latest SHAP report",
    "JSON summary of the model's latest SHAP report: feature importance and attribution drift.")
def shap_latest_resource(call: Call, model: str) -> str:
    return _json(explanations(call, model, top=MAX_LIMIT))


@REGISTRY.resource(
    "vigil://models/{model}/health/history", "health history",
    "JSON list of the model's health snapshots of the 10 days before the newest one, oldest first.")
def health_history_resource(call: Call, model: str) -> str:
    from monitoring.health.service import recent_health

    check_model(call, model)
    views = recent_health(call.ctx, model, days=10, viewer=call.actor.username)
    chunk = views[-1000:]
    points = [HealthPoint(at=iso(v.at), score=v.score, status=v.level, version=v.version) for v in chunk]
    return _json(HealthHistory(model=model, points=points, total=len(views), limit=len(chunk),
                               offset=len(views) - len(chunk)))


# -- prompt --------------------------------------------------------------------------------------
@REGISTRY.prompt(
    "investigate_model",
    "Walk through a model's state: health, then SLOs, then drift, then explanations, naming the tools.")
def investigate_model(model: str, at: str | None = None) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise InvalidInput("model must be a monitored model's name (list_models shows them)")
    moment = parse_when(at)  # InvalidInput (one line) for anything but an ISO-8601 time
    name = json.dumps(model.strip())  # quoted and escaped as a tool argument
    when = f" at {iso(moment)}" if moment else " now"
    at_arg = f', at="{iso(moment)}"' if moment else ""
    drift_args = ""
    if moment is not None:  # the drift runs around that moment: from two days before to one after
        drift_args = f', start="{iso(moment - timedelta(days=2))}", end="{iso(moment + timedelta(days=1))}"'
    return (
        f"Investigate what is wrong with the model {name}{when}, using the Vigil tools in this order:\n"
        f"1. model_health(model={name}{at_arg}): the score, status and the components pulling it down.\n"
        f"2. slo_status(model={name}{at_arg}): which SLOs burn their error budget and which burn-rate "
        "alerts (page/ticket) fire; latency and error rate.\n"
        f"3. drift_summary(model={name}{drift_args}): which features drifted, how severely, and "
        "whether it is drift that matters.\n"
        f"4. explanations(model={name}): the top features and whether the attributions drifted.\n"
        "Then say in a few sentences what is wrong, since when, which evidence shows it, and what a person "
        "could do next (releases shows the champion and its history; request_rollback and request_retrain "
        "need a person's confirmation). Do not guess figures the tools did not return."
    )
