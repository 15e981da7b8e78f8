"""The composite health score of a model version: pure, no I/O, no clock.

Ten parts, each scored 0-100 from one input (``None`` = no data):

| part | input | 100 when | 0 when |
|---|---|---|---|
| slo_budget | lowest remaining error budget of the model's SLOs; alert states | budget untouched | budget spent; a page alert caps the part at 20, a ticket at 60 |
| latency | p95 latency / latency_target_ms | p95 <= target | p95 >= 2 x target |
| error_rate | error rate of the last hour / allowed (1 - availability objective) | at or under the allowance | 10 x the allowance |
| drift | drift severity of the newest drift run (none / moderate / significant) and share drifted | none | significant drift in over half the features (20) |
| data_quality | highest missing share of a feature / max_missing_share | at or under the limit | 5 x the limit |
| gpu_saturation | GPU utilisation (%) and free GPU memory share | util <= 85 % and >= 20 % memory free | util 100 % or no memory free |
| freshness | age of the newest log record and of the newest successful job | log <= 15 min, job <= 1 h | log >= 6 h, job >= 24 h |
| job_success | share of successful runs among the model's recent finished job runs | all succeeded | none succeeded |
| throughput_stability | coefficient of variation of hourly requests over 24 h | CV <= 0.5 | CV >= 2 |
| error_growth | error rate now / error rate of the previous hour | growth <= 1.5 x | growth >= 10 x |

The score is the weighted mean of the parts that have data; parts without data are shown as
"no data" and left out, the other weights renormalised (so a model without a GPU is not
punished or flattered for it). Without any data the score is ``None`` (level ``no_data``).

Levels: ``critical`` when the score is under 50, a page alert fires, or the error rate or
freshness part is at or under 20 (requests failing now, or the data has stopped); ``warning``
when the score is under 80 or any part is under 50 (an exhausted error budget with no alert
firing is a warning: stop risky releases, nobody needs waking); ``ok`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_WEIGHTS: dict[str, float] = {
    "slo_budget": 0.20,
    "latency": 0.15,
    "error_rate": 0.15,
    "drift": 0.15,
    "data_quality": 0.10,
    "gpu_saturation": 0.05,
    "freshness": 0.08,
    "job_success": 0.05,
    "throughput_stability": 0.035,
    "error_growth": 0.035,
}
CRITICAL_PARTS = ("error_rate", "freshness")
LEVELS = ("ok", "warning", "critical", "no_data")
SEVERITY_SCORE = {"none": 100.0, "moderate": 60.0, "significant": 30.0}


@dataclass(frozen=True)
class HealthPart:
    name: str
    score: float | None  # 0-100, None = no data
    weight: float  # effective weight in the score (0 when no data)
    detail: str


@dataclass(frozen=True)
class HealthInputs:
    slo_budget_remaining: float | None = None  # lowest over the SLOs
    slo_page: bool = False
    slo_ticket: bool = False
    latency_p95_ms: float | None = None
    latency_target_ms: float | None = None
    error_rate: float | None = None
    error_allowance: float | None = None  # 1 - availability objective
    previous_error_rate: float | None = None
    drift_severity: str | None = None
    drift_share: float | None = None
    max_missing_share: float | None = None
    missing_limit: float | None = None
    gpu_utilization_pct: float | None = None
    gpu_memory_free_share: float | None = None
    log_age_s: float | None = None
    job_age_s: float | None = None
    job_success_rate: float | None = None
    hourly_requests: Sequence[float] = field(default_factory=tuple)


@dataclass(frozen=True)
class HealthResult:
    score: float | None
    level: str
    parts: tuple[HealthPart, ...]

    def part(self, name: str) -> HealthPart:
        return next(p for p in self.parts if p.name == name)

    def reasons(self) -> list[str]:
        """The parts pulling the score down, worst first."""
        low = sorted((p for p in self.parts if p.score is not None and p.score < 80), key=lambda p: p.score)
        return [f"{p.name}: {p.detail}" for p in low]


def _ok(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def linear(value: float, good: float, bad: float) -> float:
    """100 at ``good`` (or better), 0 at ``bad`` (or worse), linear between."""
    if good == bad:
        return 100.0 if value <= good else 0.0
    share = (value - good) / (bad - good)
    return float(min(max(1.0 - share, 0.0), 1.0) * 100.0)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def part_scores(i: HealthInputs) -> dict[str, tuple[float | None, str]]:
    out: dict[str, tuple[float | None, str]] = {}
    # SLO budget
    if _ok(i.slo_budget_remaining):
        s = linear(1.0 - min(max(i.slo_budget_remaining, 0.0), 1.0), 0.0, 1.0)  # type: ignore[arg-type]
        detail = f"lowest remaining error budget {_pct(i.slo_budget_remaining)}"  # type: ignore[arg-type]
        if i.slo_page:
            s, detail = min(s, 20.0), detail + "; page alert firing"
        elif i.slo_ticket:
            s, detail = min(s, 60.0), detail + "; ticket alert firing"
        out["slo_budget"] = (s, detail)
    else:
        out["slo_budget"] = (None, "no data")
    # latency
    if _ok(i.latency_p95_ms) and _ok(i.latency_target_ms) and i.latency_target_ms:  # type: ignore[operator]
        r = i.latency_p95_ms / i.latency_target_ms  # type: ignore[operator]
        out["latency"] = (linear(r, 1.0, 2.0), f"p95 {i.latency_p95_ms:.0f} ms vs target {i.latency_target_ms:.0f} ms")
    else:
        out["latency"] = (None, "no data")
    # error rate
    if _ok(i.error_rate) and _ok(i.error_allowance) and i.error_allowance:  # type: ignore[operator]
        k = i.error_rate / i.error_allowance  # type: ignore[operator]
        out["error_rate"] = (linear(k, 1.0, 10.0), f"error rate {_pct(i.error_rate)} vs allowed {_pct(i.error_allowance)}")  # type: ignore[arg-type]
    else:
        out["error_rate"] = (None, "no data")
    # drift
    if i.drift_severity is not None:
        s = SEVERITY_SCORE.get(i.drift_severity, 100.0)
        share = i.drift_share if _ok(i.drift_share) else 0.0
        if share and share > 0.5:  # type: ignore[operator]
            s = min(s, 20.0)
        out["drift"] = (s, f"max severity {i.drift_severity}, {_pct(share or 0.0)} of features drifted")  # type: ignore[arg-type]
    else:
        out["drift"] = (None, "no data")
    # data quality
    if _ok(i.max_missing_share) and _ok(i.missing_limit) and i.missing_limit:  # type: ignore[operator]
        r = i.max_missing_share / i.missing_limit  # type: ignore[operator]
        out["data_quality"] = (linear(r, 1.0, 5.0), f"highest missing share {_pct(i.max_missing_share)} vs limit {_pct(i.missing_limit)}")  # type: ignore[arg-type]
    else:
        out["data_quality"] = (None, "no data")
    # GPU
    gpu = []
    details = []
    if _ok(i.gpu_utilization_pct):
        gpu.append(linear(i.gpu_utilization_pct, 85.0, 100.0))  # type: ignore[arg-type]
        details.append(f"utilisation {i.gpu_utilization_pct:.0f}%")
    if _ok(i.gpu_memory_free_share):
        gpu.append(linear(-i.gpu_memory_free_share, -0.20, 0.0))  # type: ignore[operator]
        details.append(f"{_pct(i.gpu_memory_free_share)} memory free")  # type: ignore[arg-type]
    out["gpu_saturation"] = (min(gpu), ", ".join(details)) if gpu else (None, "no data")
    # freshness
    fresh = []
    details = []
    if _ok(i.log_age_s):
        fresh.append(linear(i.log_age_s, 15 * 60, 6 * 3600))  # type: ignore[arg-type]
        details.append(f"last log {i.log_age_s / 60:.0f} min ago")  # type: ignore[operator]
    if _ok(i.job_age_s):
        fresh.append(linear(i.job_age_s, 3600, 24 * 3600))  # type: ignore[arg-type]
        details.append(f"last successful job {i.job_age_s / 60:.0f} min ago")  # type: ignore[operator]
    out["freshness"] = (min(fresh), ", ".join(details)) if fresh else (None, "no data")
    # job success
    if _ok(i.job_success_rate):
        out["job_success"] = (100.0 * min(max(i.job_success_rate, 0.0), 1.0), f"{_pct(i.job_success_rate)} of recent job runs succeeded")  # type: ignore[arg-type]
    else:
        out["job_success"] = (None, "no data")
    # throughput stability
    counts = [float(c) for c in i.hourly_requests if _ok(c)]
    if len(counts) >= 3 and sum(counts) > 0:
        mean = sum(counts) / len(counts)
        sd = math.sqrt(sum((c - mean) ** 2 for c in counts) / len(counts))
        cv = sd / mean
        out["throughput_stability"] = (linear(cv, 0.5, 2.0), f"hourly requests CV {cv:.2f} over {len(counts)} h")
    else:
        out["throughput_stability"] = (None, "no data")
    # error growth
    if _ok(i.error_rate) and _ok(i.previous_error_rate):
        prev = max(i.previous_error_rate, 1e-4)  # type: ignore[type-var]
        growth = i.error_rate / prev  # type: ignore[operator]
        if i.error_rate <= 1e-4:  # type: ignore[operator]
            growth = 1.0
        out["error_growth"] = (linear(growth, 1.5, 10.0), f"error rate x{growth:.1f} vs the previous hour")
    else:
        out["error_growth"] = (None, "no data")
    return out


def level_for(score: float | None, parts: Sequence[HealthPart], *, page: bool = False) -> str:
    if score is None:
        return "no_data"
    scored = [p for p in parts if p.score is not None]
    if score < 50 or page or any(p.score <= 20 for p in scored if p.name in CRITICAL_PARTS):  # type: ignore[operator]
        return "critical"
    if score < 80 or any(p.score < 50 for p in scored):  # type: ignore[operator]
        return "warning"
    return "ok"


def compute_health(inputs: HealthInputs, weights: Mapping[str, float] | None = None) -> HealthResult:
    """Score, level and every part (in the order of :data:`DEFAULT_WEIGHTS`)."""
    w = dict(DEFAULT_WEIGHTS)
    if weights:
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown health parts in weights: {', '.join(sorted(unknown))}")
        w.update({k: float(v) for k, v in weights.items()})
    if any(v < 0 for v in w.values()):
        raise ValueError("health weights must not be negative")
    scores = part_scores(inputs)
    present = {k: v for k, v in w.items() if scores[k][0] is not None and v > 0}
    total = sum(present.values())
    parts = tuple(HealthPart(k, scores[k][0], (present[k] / total) if k in present and total else 0.0,
                             scores[k][1]) for k in w)
    if not total:
        return HealthResult(None, "no_data", parts)
    score = sum(scores[k][0] * present[k] for k in present) / total  # type: ignore[operator]
    score = round(score, 2)
    return HealthResult(score, level_for(score, parts, page=inputs.slo_page), parts)


def parse_weights(text: str) -> dict[str, float]:
    """``"slo_budget=0.3,latency=0.1"`` -> dict (the VIGIL_HEALTH_WEIGHTS format)."""
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"health weight {item!r} is not name=number") from None
    return out
