"""Burn-rate arithmetic against the SRE workbook (ch. 5, "Alerting on SLOs")."""

from __future__ import annotations

import math

import pytest

from monitoring.slo import burn


@pytest.mark.parametrize(("fraction", "window", "expected"), [
    (0.02, "1h", 14.4), (0.05, "6h", 6.0), (0.10, "1d", 3.0), (0.10, "3d", 1.0),
])
def test_workbook_table_for_30_days(fraction: float, window: str, expected: float) -> None:
    assert burn.burn_factor(fraction, window, "30d") == pytest.approx(expected)


def test_factors_scale_by_28_over_30() -> None:
    f30, f28 = burn.alert_factors("30d"), burn.alert_factors("28d")
    assert f30 == pytest.approx({("1h", "5m"): 14.4, ("6h", "30m"): 6.0, ("1d", "2h"): 3.0, ("3d", "6h"): 1.0})
    for key in f30:
        assert f28[key] == pytest.approx(f30[key] * 28 / 30)
    assert f28[("1h", "5m")] == pytest.approx(13.44)


def test_burn_rate_and_budget() -> None:
    assert burn.burn_rate(0.0144, 0.999) == pytest.approx(14.4)
    assert burn.budget_remaining(0.0005, 0.999) == pytest.approx(0.5)
    assert burn.budget_remaining(0.002, 0.999) == pytest.approx(-1.0)  # overspent goes negative


def test_no_traffic_is_no_data_never_nan() -> None:
    assert burn.error_ratio(0, 0) is None
    assert burn.error_ratio(None, None) is None
    assert burn.error_ratio(float("nan"), 10) == 0.0 or burn.error_ratio(float("nan"), 10) is None
    assert burn.error_ratio(None, 10) == 0.0  # traffic, no error series: nothing failed
    assert burn.burn_rate(None, 0.99) is None
    assert burn.burn_rate(float("nan"), 0.99) is None
    assert burn.budget_remaining(None, 0.99) is None
    res = burn.summarise("m", "a", 0.999, 0.999, "30d", {})
    assert all(v is None for v in res.burn_rate.values())
    assert res.error_budget_remaining is None
    assert res.alerts.as_dict() == {"page": False, "ticket": False}
    assert not any(isinstance(v, float) and math.isnan(v) for v in res.contract()["burn_rate"].values())


def _burns(value: float, **over: float) -> dict[str, float]:
    out = {w: value for w in burn.WINDOWS}
    out.update({k.replace("w_", ""): v for k, v in over.items()})
    return out


def test_page_needs_both_windows() -> None:
    assert burn.evaluate_alerts(_burns(0.0, w_1h=15, w_5m=15), "30d").page
    assert not burn.evaluate_alerts(_burns(0.0, w_1h=15, w_5m=10), "30d").page  # short window recovered
    assert burn.evaluate_alerts(_burns(0.0, w_6h=7, w_30m=7), "30d").page
    state = burn.evaluate_alerts(_burns(0.0, w_1d=3.5, w_2h=3.5), "30d")
    assert state.ticket and not state.page
    assert burn.evaluate_alerts(_burns(0.0, w_3d=1.1, w_6h=1.1), "30d").ticket


def test_28_day_thresholds_fire_lower() -> None:
    burns = _burns(0.0, w_1h=14.0, w_5m=14.0)  # under 14.4, over 13.44
    assert not burn.evaluate_alerts(burns, "30d").page
    assert burn.evaluate_alerts(burns, "28d").page


def test_minimum_requests_guard() -> None:
    burns = _burns(0.0, w_1h=50, w_5m=50)
    few = {w: 20.0 for w in burn.WINDOWS}
    state = burn.evaluate_alerts(burns, "30d", requests=few, min_requests=100)
    assert not state.page and state.guarded
    many = {w: 500.0 for w in burn.WINDOWS}
    assert burn.evaluate_alerts(burns, "30d", requests=many, min_requests=100).page
    assert not burn.evaluate_alerts(burns, "30d", requests=None, min_requests=100).page


def test_missing_window_never_alerts() -> None:
    burns = _burns(0.0, w_1h=50)
    burns["5m"] = None  # type: ignore[assignment]
    assert not burn.evaluate_alerts(burns, "30d").page


def test_apdex() -> None:
    assert burn.apdex(60, 30, 100) == pytest.approx(0.75)
    assert burn.apdex(0, 0, 0) is None
    # errors are in the total only: 10 errors of 100 lower the score
    assert burn.apdex(90, 0, 100) == pytest.approx(0.9)


def test_durations() -> None:
    assert burn.duration_seconds("5m") == 300
    assert burn.duration_seconds("30d") == 30 * 86400
    with pytest.raises(ValueError):
        burn.duration_seconds("5 minutes")
