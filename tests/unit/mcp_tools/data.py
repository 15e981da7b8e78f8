"""Hand-built monitoring results for the MCP tool tests: rows as the jobs store them (health
snapshots, SLO snapshots and burn series, a drift run, a SHAP report with its attribution drift),
written straight into the tables so each test compares a tool's answer with the service's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.actor import Actor
from core.db import write_scope
from mcp_server.registry import Call

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # "day 24" of the demo-like story
CLIENT = "test-client@127.0.0.1"


def call_as(ctx: Any, username: str) -> Call:
    """The Call the server builds for ``username`` through the client 'test-client'."""
    return Call(ctx, Actor(username, "mcp", client_addr=CLIENT), "test-client")


PARTS_OK = [{"name": "slo", "score": 95.0, "weight": 0.4, "detail": "budget 90% left"},
            {"name": "drift", "score": 90.0, "weight": 0.3, "detail": "no drift"},
            {"name": "freshness", "score": None, "weight": 0.0, "detail": "no data"}]
PARTS_BAD = [{"name": "slo", "score": 5.0, "weight": 0.4, "detail": "page alert firing; budget exhausted"},
             {"name": "latency", "score": 20.0, "weight": 0.3, "detail": "p95 900 ms over 250 ms"},
             {"name": "drift", "score": 90.0, "weight": 0.3, "detail": "no drift"}]


def add_health(ctx: Any, model: str, at: datetime, score: float, level: str,
               parts: list[dict[str, Any]] | None = None, version: str = "2") -> None:
    from monitoring.health.tables import HealthSnapshot

    with write_scope(ctx.engine) as session:
        session.add(HealthSnapshot(model=model, version=version, at=at, score=score, level=level,
                                   parts=parts if parts is not None else PARTS_OK, created_at=at,
                                   created_by="job"))


def health_story(ctx: Any, model: str) -> None:
    """Healthy twice a day for 30 days, critical on day 24 from 12:00 to 23:00, healthy after."""
    start = T0 - timedelta(days=10)
    for i in range(0, 30):
        at = start + timedelta(hours=12 * i)
        bad = T0 <= at < T0 + timedelta(hours=12)
        add_health(ctx, model, at, 22.0 if bad else 93.0, "critical" if bad else "ok",
                   PARTS_BAD if bad else PARTS_OK)


def burn_point(at: datetime, *, page: bool, ticket: bool, budget: float, burn: float) -> dict[str, Any]:
    from monitoring.slo.burn import WINDOWS

    return {"at": at.isoformat(), "requests": 1200.0, **{f"burn_{w}": burn for w in WINDOWS},
            "error_ratio_period": 0.001 * burn, "budget_remaining": budget, "page": page, "ticket": ticket}


def slo_story(ctx: Any, model: str, end: datetime) -> None:
    """One stored evaluation at ``end`` (all quiet) and a 10-day hourly burn series whose page
    alert fires on day 24 from 12:00 to 18:00."""
    from monitoring.slo.tables import SLOSeries, SLOSnapshot

    rules = [{"severity": "page", "long_window": "1h", "short_window": "5m", "budget_fraction": 0.02,
              "factor": 14.4, "long_burn": 0.5, "short_burn": 0.4, "burning": False, "firing": False,
              "held": False}]
    points = []
    t = end - timedelta(days=10)
    while t <= end:
        firing = T0 <= t < T0 + timedelta(hours=6)
        points.append(burn_point(t, page=firing, ticket=firing, budget=0.1 if firing else 0.8,
                                 burn=20.0 if firing else 0.5))
        t += timedelta(hours=1)
    with write_scope(ctx.engine) as session:
        session.add(SLOSnapshot(model=model, slo="availability", sli="availability", source="logs", at=end,
                                objective=0.999, period="30d", error_ratio={"1h": 0.0005, "30d": 0.0004},
                                burn_rate={"1h": 0.5, "30d": 0.4}, requests={"1h": 1200.0}, budget_remaining=0.6,
                                page=False, ticket=False,
                                details={"alert_rules": rules, "latency": {"p95_ms": 120.0, "kind": "percentiles"}},
                                created_at=end, created_by="job"))
        session.add(SLOSeries(model=model, kind="burn:availability", start=end - timedelta(days=10),
                              end=end, points=points, computed_at=end))


def drift_run(ctx: Any, model: str, end: datetime, *, zip_value: str = "90210") -> Any:
    """A stored drift run: mean_radius drifted (significant), patient_zip (PII) with a histogram of
    its values, mean_texture steady."""
    from monitoring.drift.persistence import store_run
    from monitoring.drift.results import FeatureSummary, MethodResult

    def feature(name: str, kind: str, drifted: bool, severity: str, stat: float, p: float,
                histogram: dict[str, Any] | None = None) -> FeatureSummary:
        result = MethodResult(name, "ks" if kind == "numeric" else "chi2", stat, p, 0.05, drifted, severity,
                              p_value_adjusted=min(p * 3, 1.0))
        psi = MethodResult(name, "psi", stat, None, 0.25, drifted, severity, threshold_on="distance")
        return FeatureSummary(name, kind, drifted, severity, 0.0, 0.01, 500, 500, results=(result, psi),
                              histogram=histogram or {})

    features = [feature("mean_radius", "numeric", True, "significant", 0.41, 1e-9),
                feature("patient_zip", "categorical", False, "none", 0.02, 0.6,
                        {"categories": [zip_value, "10001"], "shares": [0.7, 0.3]}),
                feature("mean_texture", "numeric", False, "none", 0.03, 0.7)]
    run = {"model": model, "version": "2", "window": "1d", "window_start": end - timedelta(days=1),
           "window_end": end, "status": "ok", "rows": 500, "rows_reference": 500, "features_tested": 3,
           "drifted_features": 1, "share_drifted": 1 / 3, "max_severity": "significant",
           "dataset_drift": False, "note": "", "created_by": "job", "prediction": {}, "performance": {},
           "quality": {}}
    return store_run(ctx, run, features)


def shap_report(ctx: Any, model: str, at: datetime) -> None:
    from monitoring.explain.tables import AttributionDriftResult, ShapReport

    with write_scope(ctx.engine) as session:
        report = ShapReport(model=model, version="2", window="1d", window_start=at - timedelta(days=1),
                            window_end=at, created_at=at, actor="job", sample_source="window",
                            explainer="permutation", device="cpu", background_rows=100, explained_rows=200,
                            seed=0, runtime_s=1.0, additivity_max_error=0.0, additivity_tolerance=0.01,
                            additivity_ok=True, json_sha256="0" * 64, json_size=1, html_sha256="0" * 64,
                            html_size=1, background_sha256="0" * 64,
                            importance={"mean_radius": 0.30, "mean_texture": 0.05, "patient_zip": 0.01},
                            reference_importance={"rows": 100, "vector": {"mean_radius": 0.20, "mean_texture": 0.06}},
                            notes="", is_current=True)
        session.add(report)
        session.flush()
        session.add(AttributionDriftResult(report_id=report.id, model=model, version="2", created_at=at,
                                           window_start=at - timedelta(days=1), window_end=at, distance=0.31,
                                           threshold=0.2, drifted=True, rank_changes=[]))
