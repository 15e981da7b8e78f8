"""The composite health score: parts, weights, no-data handling, levels."""

from __future__ import annotations

import pytest

from monitoring.health.score import DEFAULT_WEIGHTS, HealthInputs, compute_health, linear, parse_weights

HEALTHY = HealthInputs(
    slo_budget_remaining=0.9, latency_p95_ms=80, latency_target_ms=250, error_rate=0.0005,
    error_allowance=0.001, previous_error_rate=0.0005, drift_severity="none", drift_share=0.0,
    max_missing_share=0.0, missing_limit=0.05, gpu_utilization_pct=50, gpu_memory_free_share=0.5,
    log_age_s=60, job_age_s=300, job_success_rate=1.0, hourly_requests=(100, 110, 95, 105))


def test_every_part_is_shown() -> None:
    result = compute_health(HEALTHY)
    assert [p.name for p in result.parts] == list(DEFAULT_WEIGHTS)
    assert result.level == "ok" and result.score is not None and result.score > 90
    assert sum(p.weight for p in result.parts) == pytest.approx(1.0)


def test_no_data_parts_are_excluded_and_renormalised() -> None:
    only = HealthInputs(latency_p95_ms=80, latency_target_ms=250)
    result = compute_health(only)
    assert result.score == 100.0
    assert result.part("latency").weight == pytest.approx(1.0)
    assert result.part("gpu_saturation").score is None and result.part("gpu_saturation").detail == "no data"
    assert result.part("gpu_saturation").weight == 0.0
    empty = compute_health(HealthInputs())
    assert empty.score is None and empty.level == "no_data"


def test_incident_is_critical_with_reasons() -> None:
    from dataclasses import replace

    bad = replace(HEALTHY, slo_budget_remaining=0.4, slo_page=True, latency_p95_ms=600, error_rate=0.15,
                  previous_error_rate=0.0005)
    result = compute_health(bad)
    assert result.level == "critical"
    assert result.part("slo_budget").score <= 20
    assert result.part("error_rate").score == 0.0
    reasons = result.reasons()
    assert reasons and reasons[0].split(":")[0] in {"error_rate", "latency", "error_growth", "slo_budget"}


def test_warning_level() -> None:
    from dataclasses import replace

    result = compute_health(replace(HEALTHY, drift_severity="moderate", drift_share=0.2, latency_p95_ms=400))
    assert result.level == "warning"


def test_weights_are_configurable() -> None:
    from dataclasses import replace

    inputs = replace(HEALTHY, latency_p95_ms=500)  # latency part 0
    default = compute_health(inputs).score
    heavy = compute_health(inputs, {"latency": 10.0}).score
    assert heavy < default
    with pytest.raises(ValueError):
        compute_health(inputs, {"nonsense": 1.0})
    assert parse_weights("latency=0.5, drift=0.1") == {"latency": 0.5, "drift": 0.1}


def test_linear() -> None:
    assert linear(1.0, 1.0, 2.0) == 100.0
    assert linear(1.5, 1.0, 2.0) == 50.0
    assert linear(3.0, 1.0, 2.0) == 0.0


def test_spent_budget_without_alert_is_a_warning_and_a_page_is_critical() -> None:
    from dataclasses import replace

    spent = compute_health(replace(HEALTHY, slo_budget_remaining=-0.4))
    assert spent.level == "warning" and spent.part("slo_budget").score == 0.0
    assert "lowest remaining error budget -40.00%" in spent.part("slo_budget").detail
    paging = compute_health(replace(HEALTHY, slo_page=True))
    assert paging.level == "critical"
