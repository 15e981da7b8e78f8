"""Evaluate SLO definitions against Prometheus at one instant (no database, no config).

For each window ``w`` of 5m 30m 1h 2h 6h 1d 3d and the period, the error query and the total
query are evaluated with ``{{.window}}`` = ``w`` at time ``at``; the error ratio is their
quotient (``None`` without traffic). Sloth raw SLIs give the ratio directly. The request count
that guards alerts is estimated as total * window seconds, i.e. the total query is taken to be
a per-second rate as in Sloth's and our presets' queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitoring.slo import burn
from monitoring.slo.burn import WINDOWS, SLOResult, duration_seconds
from monitoring.slo.prometheus import PrometheusSource
from monitoring.slo.spec import SLODefinition, render


def windows_for(slo: SLODefinition) -> list[str]:
    return list(WINDOWS) + ([slo.period] if slo.period not in WINDOWS else [])


def evaluate_prometheus(source: PrometheusSource, slo: SLODefinition, at: datetime, *,
                        min_requests: float = 0) -> SLOResult:
    ratios: dict[str, float | None] = {}
    requests: dict[str, float | None] = {}
    for w in windows_for(slo):
        if slo.ratio_query:
            ratios[w] = burn.clean_ratio(source.scalar(render(slo.ratio_query, w), at))
            requests[w] = None
        elif slo.error_query and slo.total_query:
            total = source.scalar(render(slo.total_query, w), at)
            errors = source.scalar(render(slo.error_query, w), at) if total else None
            ratios[w] = burn.error_ratio(errors, total)
            requests[w] = total * duration_seconds(w) if total is not None else None
        else:
            ratios[w] = None
            requests[w] = None
    return burn.summarise(slo.service, slo.name, slo.objective_as_written, slo.objective, slo.period,
                          ratios, requests, min_requests=min_requests if not slo.ratio_query else 0,
                          sli=slo.sli, at=at.astimezone(UTC).isoformat())
